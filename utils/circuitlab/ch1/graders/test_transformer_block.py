"""Grader for ch1.transformer_block."""
import pytest
import torch

from circuitlab.ch1.grading_support import CONFIGS, learner_module, random_residual, reference_module
from circuitlab.grading.testing import expect_close, expect_tensor, run_learner, submitted


def _mistakes(block, x):
    attn = lambda r: block.attn(block.ln1(r))  # noqa: E731
    mlp = lambda r: block.mlp(block.ln2(r))  # noqa: E731
    mid = x + attn(x)
    return {
        "The residual connection around attention is missing: resid_mid = resid_pre + attn(ln1(resid_pre)).":
            attn(x) + mlp(attn(x)),
        "The residual connection around the MLP is missing: resid_post = resid_mid + mlp(ln2(resid_mid)).": mlp(mid),
        "LayerNorm is applied after the sublayer instead of before it. GPT-2 is pre-norm: each sublayer reads "
        "ln(resid) and adds to the un-normalised stream.":
            (lambda m: block.ln2(m + block.mlp(m)))(block.ln1(x + block.attn(x))),
        "The MLP reads resid_pre instead of resid_mid: it must see what attention just added.": mid + mlp(x),
        "You used ln1 for both sublayers; the MLP reads through ln2.": mid + block.mlp(block.ln1(mid)),
    }


@pytest.mark.parametrize("cfg_name", ["small", "wide"])
def test_matches_reference(cfg_name):
    """pre-norm: resid_mid = x + attn(ln1(x)); resid_post = resid_mid + mlp(ln2(resid_mid))"""
    cfg = CONFIGS[cfg_name]
    ref_block = reference_module("TransformerBlock", cfg, seed=31)
    block = learner_module(submitted(), cfg, ref_block)
    x = random_residual(cfg, 2, 6, seed=32)
    out = run_learner(block, x)
    expect_tensor(out, shape=(2, 6, cfg.d_model), what="block output")
    with torch.no_grad():
        expect_close(out, ref_block(x), what="block output", mistakes=_mistakes(ref_block, x),
                     hint="If LayerNorm, Attention and MLP passed their checks, look at the wiring: which tensor "
                          "each sublayer reads, and what is added to what.")
