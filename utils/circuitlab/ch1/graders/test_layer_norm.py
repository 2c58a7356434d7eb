"""Grader for ch1.layer_norm."""
import pytest
import torch

from circuitlab.ch1.grading_support import CONFIGS, learner_module, random_residual, reference_module
from circuitlab.grading.testing import expect_close, expect_tensor, run_learner, submitted


def _mistakes(ln, x):
    centred = x - x.mean(-1, keepdim=True)
    eps = ln.cfg.layer_norm_eps
    var = centred.pow(2).mean(-1, keepdim=True)
    return {
        "You used the unbiased variance (Bessel's correction, dividing by n - 1). LayerNorm divides by n: "
        "use var(unbiased=False) or a mean of squares.": centred / (x.var(-1, keepdim=True) + eps).sqrt() * ln.w + ln.b,
        "Epsilon is outside the square root: compute sqrt(var + eps), not sqrt(var) + eps.":
            centred / (var.sqrt() + eps) * ln.w + ln.b,
        "You forgot the learned scale w and shift b: multiply by self.w and add self.b after normalising.":
            centred / (var + eps).sqrt(),
        "You normalised without subtracting the mean first.": x / (var + eps).sqrt() * ln.w + ln.b,
    }


@pytest.mark.parametrize("cfg_name, scale", [("small", 1.0), ("wide", 3.0), ("small", 0.01)])
def test_matches_reference(cfg_name, scale):
    """normalises over d_model with the biased variance, eps inside the sqrt, then scales and shifts"""
    cfg = CONFIGS[cfg_name]
    ref_ln = reference_module("LayerNorm", cfg, seed=1)
    ln = learner_module(submitted(), cfg, ref_ln)
    x = random_residual(cfg, 2, 5, seed=2, scale=scale) + 0.5
    out = run_learner(ln, x)
    expect_tensor(out, shape=(2, 5, cfg.d_model), what="LayerNorm output")
    with torch.no_grad():
        expect_close(out, ref_ln(x), what="LayerNorm output", mistakes=_mistakes(ref_ln, x),
                     hint="Normalise over the last axis only: mean and variance with dim=-1, keepdim=True.")
