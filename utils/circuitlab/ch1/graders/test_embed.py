"""Grader for ch1.embed."""
import pytest
import torch

from circuitlab.ch1.grading_support import (
    CONFIGS, describe_config, expect_same_gradients, learner_module, random_tokens, reference_module,
)
from circuitlab.grading.testing import (
    GradingFailure, NotAttempted, expect_close, fail, run_learner, seeded, submitted,
)


@pytest.mark.parametrize("cfg_name, batch, seq", [("small", 3, 6), ("wide", 1, 5), ("odd", 2, 1), ("odd", 1, 1)])
def test_matches_reference(cfg_name, batch, seq):
    """row t of W_E for each token t, shape (batch, seq, d_model)"""
    cfg = CONFIGS[cfg_name]
    where = describe_config(cfg_name, batch, seq)
    ref_embed = reference_module("Embed", cfg, seed=3)
    embed = learner_module(submitted(), cfg, ref_embed)
    with seeded(4):
        tokens = torch.randint(0, cfg.d_vocab, (batch, seq))
    tokens[0, 0] = cfg.d_vocab - 1
    out = run_learner(embed, tokens)
    with torch.no_grad():
        expected = ref_embed(tokens)
    expect_close(out, expected, what=f"embedding on {where}", axis_names=("batch", "position", "d_model"), mistakes={
        "You scaled the embedding (by sqrt(d_model)); GPT-2 uses the rows of W_E as they are.":
            expected * cfg.d_model ** 0.5,
    })


def test_batch_without_the_largest_token_id():
    """works on a batch that does not contain every token id"""
    cfg = CONFIGS["small"]
    ref_embed = reference_module("Embed", cfg, seed=5)
    embed = learner_module(submitted(), cfg, ref_embed)
    tokens = torch.tensor([[0, 1, 2], [2, 1, 0]])
    try:
        out = run_learner(embed, tokens)
    except NotAttempted:
        raise
    except GradingFailure as failure:
        fail(f"{failure} If you used F.one_hot, it guesses the number of classes from the largest id in the batch: "
             "pass num_classes=d_vocab (or index W_E directly).")
    with torch.no_grad():
        expect_close(out, ref_embed(tokens), what="embedding of a batch with small ids")


def test_gradients():
    """the gradient reaches the rows of W_E that were used, as in the reference"""
    cfg = CONFIGS["wide"]
    ref_embed = reference_module("Embed", cfg, seed=6)
    embed = learner_module(submitted(), cfg, ref_embed)
    expect_same_gradients(embed, ref_embed, lambda: random_tokens(cfg, 2, 4, seed=7),
                          what=describe_config("wide", 2, 4), float_input=False)
