"""Grader for ch1.pos_embed."""
import pytest
import torch

from circuitlab.ch1.grading_support import (
    CONFIGS, describe_config, expect_same_gradients, learner_module, random_tokens, reference_module,
)
from circuitlab.grading.testing import expect_close, fail, run_learner, seeded, submitted

# Several configs, batch 1, seq 1 and a sequence as long as the context.
CASES = [("small", 3, 4), ("wide", 2, 7), ("small", 1, 10), ("odd", 1, 1), ("odd", 4, 9)]


@pytest.mark.parametrize("cfg_name, batch, seq", CASES)
def test_matches_reference(cfg_name, batch, seq):
    """row i of W_pos at position i, for every sequence of the batch: shape (batch, seq, d_model)"""
    cfg = CONFIGS[cfg_name]
    where = describe_config(cfg_name, batch, seq)
    ref_pos = reference_module("PosEmbed", cfg, seed=6)
    pos = learner_module(submitted(), cfg, ref_pos)
    with seeded(7):
        tokens = torch.randint(0, min(cfg.n_ctx, cfg.d_vocab), (batch, seq))
    out = run_learner(pos, tokens)
    if isinstance(out, torch.Tensor):
        if out.ndim == 3 and out.shape[1] == cfg.n_ctx and seq != cfg.n_ctx:
            fail(f"Your output has {cfg.n_ctx} positions (all of W_pos) for a sequence of length {seq} ({where}): "
                 "slice W_pos to the sequence length, W_pos[:seq].")
        if out.ndim == 2 and out.shape[0] == seq:
            fail(f"Your output has no batch axis ({where}): repeat the positional rows over the batch, so the "
                 "output is (batch, seq, d_model).")
    with torch.no_grad():
        expected = ref_pos(tokens)
        by_token_id = ref_pos.W_pos[tokens]
    expect_close(out, expected, what=f"positional embedding on {where}", axis_names=("batch", "position", "d_model"),
                 mistakes={
        "You indexed W_pos with the token ids; it is indexed by positions 0, 1, ..., seq - 1, not by token ids.":
            by_token_id,
    })


def test_gradients():
    """the gradient reaches the first seq rows of W_pos, summed over the batch, as in the reference"""
    cfg = CONFIGS["odd"]
    ref_pos = reference_module("PosEmbed", cfg, seed=8)
    pos = learner_module(submitted(), cfg, ref_pos)
    expect_same_gradients(pos, ref_pos, lambda: random_tokens(cfg, 3, 5, seed=9), what=describe_config("odd", 3, 5),
                          float_input=False)
