"""Grader for ch1.unembed."""
import pytest
import torch

from circuitlab.ch1.grading_support import (
    CONFIGS, MODULE_CASES, describe_config, expect_same_gradients, learner_module, random_residual, reference_module,
)
from circuitlab.grading.testing import expect_close, expect_tensor, run_learner, submitted


@pytest.mark.parametrize("cfg_name, batch, seq", MODULE_CASES)
def test_matches_reference(cfg_name, batch, seq):
    """logits = x @ W_U + b_U, shape (batch, seq, d_vocab)"""
    cfg = CONFIGS[cfg_name]
    where = describe_config(cfg_name, batch, seq)
    ref_unembed = reference_module("Unembed", cfg, seed=41)
    unembed = learner_module(submitted(), cfg, ref_unembed)
    x = random_residual(cfg, batch, seq, seed=42)
    out = run_learner(unembed, x)
    expect_tensor(out, shape=(batch, seq, cfg.d_vocab), what=f"logits on {where}")
    with torch.no_grad():
        expected = ref_unembed(x)
    expect_close(out, expected, what=f"logits on {where}", axis_names=("batch", "position", "vocabulary"), mistakes={
        "You returned probabilities (softmax). The model outputs logits; softmax comes later, in the loss or "
        "when sampling.": expected.softmax(-1),
        "You returned log-probabilities (log_softmax). Return the raw logits.": expected.log_softmax(-1),
        "The bias b_U is missing.": expected - ref_unembed.b_U,
    })


def test_gradients():
    """gradients reach W_U, b_U and the input as in the reference"""
    cfg = CONFIGS["wide"]
    ref_unembed = reference_module("Unembed", cfg, seed=43)
    unembed = learner_module(submitted(), cfg, ref_unembed)
    expect_same_gradients(unembed, ref_unembed, lambda: random_residual(cfg, 1, 3, seed=44),
                          what=describe_config("wide", 1, 3))
