"""Grader for ch1.transformer."""
import pytest
import torch

from circuitlab.ch1.grading_support import (
    CONFIGS, describe_config, expect_same_gradients, learner_module, random_tokens, reference_module, tl_twin_of,
)
from circuitlab.grading.testing import expect_close, expect_tensor, fail, run_learner, submitted

AXES = ("batch", "position", "vocabulary")


def _mistakes(model, tokens):
    def run(residual, final_ln=True, skip_blocks=False):
        if not skip_blocks:
            for block in model.blocks:
                residual = block(residual)
        return model.unembed(model.ln_final(residual) if final_ln else residual)

    embedded = model.embed(tokens)
    full = embedded + model.pos_embed(tokens)
    return {
        "The positional embedding is missing: the stream starts as embed(tokens) + pos_embed(tokens).": run(embedded),
        "ln_final is missing: the last residual goes through ln_final before unembed.": run(full, final_ln=False),
        "The blocks are not applied (or their outputs are dropped): residual = block(residual) for each block.":
            run(full, skip_blocks=True),
        "You returned probabilities. The model returns logits.": run(full).softmax(-1),
    }


@pytest.mark.parametrize("cfg_name, batch, seq", [("small", 2, 7), ("wide", 1, 12), ("odd", 3, 1), ("odd", 1, 9)])
def test_matches_reference(cfg_name, batch, seq):
    """logits (batch, seq, d_vocab) equal the reference model with the same weights"""
    cfg = CONFIGS[cfg_name]
    where = describe_config(cfg_name, batch, seq)
    ref_model = reference_module("DemoTransformer", cfg, seed=51)
    model = learner_module(submitted(), cfg, ref_model)
    tokens = random_tokens(cfg, batch, seq, seed=52)
    out = run_learner(model, tokens)
    expect_tensor(out, shape=(batch, seq, cfg.d_vocab), what=f"logits on {where}")
    with torch.no_grad():
        expect_close(out, ref_model(tokens), what=f"logits on {where}", atol=1e-4, axis_names=AXES,
                     mistakes=_mistakes(ref_model, tokens))
    second = run_learner(model, tokens, what="your model called a second time")
    with torch.no_grad():
        expect_close(second, ref_model(tokens), what=f"logits of a second call on {where}", atol=1e-4,
                     axis_names=AXES, hint="The first call changed something the second one reads.")


# One TransformerLens twin (booting one costs seconds): the odd config, whose heads do not tile d_model,
# catches more than the small one would; the reference comparisons above cover the other configs.
@pytest.mark.parametrize("cfg_name", ["odd"])
def test_matches_transformerlens(cfg_name):
    """with a TransformerLens model's weights loaded, logits match TransformerLens to 1e-5"""
    from circuitlab.ch1.equivalence import load_tl_weights

    cfg = CONFIGS[cfg_name]
    where = describe_config(cfg_name, 2, cfg.n_ctx)
    tl_model = tl_twin_of(cfg_name)
    model = run_learner(submitted(), cfg, what="constructing your DemoTransformer")
    try:
        load_tl_weights(model, tl_model)
    except (KeyError, ValueError, AttributeError) as problem:
        fail(f"Could not load TransformerLens's weights into your model: {problem}")
    tokens = random_tokens(cfg, 2, cfg.n_ctx, seed=53)
    out = run_learner(model.eval(), tokens)
    with torch.no_grad():
        expected = tl_model(tokens)
    expect_close(out, expected, what=f"logits compared with TransformerLens on {where}", atol=1e-5, rtol=1e-5,
                 axis_names=AXES)


def test_gradients():
    """gradients reach every parameter as in the reference"""
    cfg = CONFIGS["odd"]
    ref_model = reference_module("DemoTransformer", cfg, seed=54)
    model = learner_module(submitted(), cfg, ref_model)
    expect_same_gradients(model, ref_model, lambda: random_tokens(cfg, 2, 5, seed=55),
                          what=describe_config("odd", 2, 5), float_input=False)
