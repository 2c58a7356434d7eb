"""Grader for ch1.transformer."""
import pytest
import torch

from circuitlab.ch1.grading_support import CONFIGS, learner_module, random_tokens, reference_module, tl_twin_of
from circuitlab.grading.testing import expect_close, expect_tensor, fail, run_learner, submitted


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


@pytest.mark.parametrize("cfg_name", ["small", "wide"])
def test_matches_reference(cfg_name):
    """logits (batch, seq, d_vocab) equal the reference model with the same weights"""
    cfg = CONFIGS[cfg_name]
    ref_model = reference_module("DemoTransformer", cfg, seed=51)
    model = learner_module(submitted(), cfg, ref_model)
    tokens = random_tokens(cfg, 2, 7, seed=52)
    out = run_learner(model, tokens)
    expect_tensor(out, shape=(2, 7, cfg.d_vocab), what="logits")
    with torch.no_grad():
        expect_close(out, ref_model(tokens), what="logits", atol=1e-4, mistakes=_mistakes(ref_model, tokens))


def test_matches_transformerlens():
    """with a TransformerLens model's weights loaded, logits match TransformerLens to 1e-5"""
    from circuitlab.ch1.equivalence import load_tl_weights

    cfg = CONFIGS["small"]
    tl_model = tl_twin_of("small")
    model = run_learner(submitted(), cfg, what="constructing your DemoTransformer")
    try:
        load_tl_weights(model, tl_model)
    except (KeyError, ValueError) as problem:
        fail(f"Could not load TransformerLens's weights into your model: {problem}")
    tokens = random_tokens(cfg, 2, cfg.n_ctx, seed=53)
    out = run_learner(model.eval(), tokens)
    with torch.no_grad():
        expected = tl_model(tokens)
    expect_close(out, expected, what="logits compared with TransformerLens", atol=1e-5, rtol=1e-5)
