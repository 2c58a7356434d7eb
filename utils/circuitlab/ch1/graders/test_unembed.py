"""Grader for ch1.unembed."""
import pytest
import torch

from circuitlab.ch1.grading_support import CONFIGS, learner_module, random_residual, reference_module
from circuitlab.grading.testing import expect_close, expect_tensor, run_learner, submitted


@pytest.mark.parametrize("cfg_name", ["small", "wide"])
def test_matches_reference(cfg_name):
    """logits = x @ W_U + b_U, shape (batch, seq, d_vocab)"""
    cfg = CONFIGS[cfg_name]
    ref_unembed = reference_module("Unembed", cfg, seed=41)
    unembed = learner_module(submitted(), cfg, ref_unembed)
    x = random_residual(cfg, 2, 4, seed=42)
    out = run_learner(unembed, x)
    expect_tensor(out, shape=(2, 4, cfg.d_vocab), what="logits")
    with torch.no_grad():
        expected = ref_unembed(x)
    expect_close(out, expected, what="logits", mistakes={
        "You returned probabilities (softmax). The model outputs logits; softmax comes later, in the loss or "
        "when sampling.": expected.softmax(-1),
        "You returned log-probabilities (log_softmax). Return the raw logits.": expected.log_softmax(-1),
        "The bias b_U is missing.": expected - ref_unembed.b_U,
    })
