"""Grader for ch1.transformer_block."""
import pytest
import torch

from circuitlab.ch1.grading_support import (
    CONFIGS, MODULE_CASES, describe_config, expect_same_gradients, learner_module, random_residual, reference_module,
)
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
        "The residual stream is normalised before it is added to: resid_mid = resid_pre + attn(ln1(resid_pre)) "
        "adds to resid_pre itself, not to ln1(resid_pre).":
            (lambda m: m + mlp(m))(block.ln1(x) + attn(x)),
    }


@pytest.mark.parametrize("cfg_name, batch, seq", MODULE_CASES)
def test_matches_reference(cfg_name, batch, seq):
    """pre-norm: resid_mid = x + attn(ln1(x)); resid_post = resid_mid + mlp(ln2(resid_mid))"""
    cfg = CONFIGS[cfg_name]
    where = describe_config(cfg_name, batch, seq)
    ref_block = reference_module("TransformerBlock", cfg, seed=31)
    block = learner_module(submitted(), cfg, ref_block)
    x = random_residual(cfg, batch, seq, seed=32)
    out = run_learner(block, x)
    expect_tensor(out, shape=(batch, seq, cfg.d_model), what=f"block output on {where}")
    with torch.no_grad():
        expect_close(out, ref_block(x), what=f"block output on {where}", mistakes=_mistakes(ref_block, x),
                     axis_names=("batch", "position", "d_model"),
                     hint="If LayerNorm, Attention and MLP passed their checks, look at the wiring: which tensor "
                          "each sublayer reads, and what is added to what.")


def test_gradients():
    """gradients reach both LayerNorms, attention, the MLP and the input as in the reference"""
    cfg = CONFIGS["odd"]
    ref_block = reference_module("TransformerBlock", cfg, seed=33)
    block = learner_module(submitted(), cfg, ref_block)
    expect_same_gradients(block, ref_block, lambda: random_residual(cfg, 2, 4, seed=34),
                          what=describe_config("odd", 2, 4))
