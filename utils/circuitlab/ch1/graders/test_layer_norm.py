"""Grader for ch1.layer_norm."""
import pytest
import torch

from circuitlab.ch1.grading_support import (
    CONFIGS, MODULE_CASES, describe_config, expect_same_gradients, learner_module, random_residual, reference_module,
)
from circuitlab.grading.testing import expect_close, expect_tensor, run_learner, submitted

AXES = ("batch", "position", "d_model")


def _mistakes(ln, x):
    centred = x - x.mean(-1, keepdim=True)
    eps = ln.cfg.layer_norm_eps
    var = centred.pow(2).mean(-1, keepdim=True)
    mistakes = {
        "You used the unbiased variance (Bessel's correction, dividing by n - 1). LayerNorm divides by n: "
        "use var(unbiased=False) or a mean of squares.": centred / (x.var(-1, keepdim=True) + eps).sqrt() * ln.w + ln.b,
        "Epsilon is outside the square root: compute sqrt(var + eps), not sqrt(var) + eps.":
            centred / (var.sqrt() + eps) * ln.w + ln.b,
        "You forgot the learned scale w and shift b: multiply by self.w and add self.b after normalising.":
            centred / (var + eps).sqrt(),
        "You normalised without subtracting the mean first.": x / (var + eps).sqrt() * ln.w + ln.b,
        "You normalised over the positions (dim=-2): mean and variance are taken over d_model only, dim=-1 "
        "with keepdim=True.":
            (x - x.mean(-2, keepdim=True)) / (x.var(-2, keepdim=True, unbiased=False) + eps).sqrt() * ln.w + ln.b,
    }
    if eps != 1e-5:
        mistakes[f"Your epsilon is 1e-5, but this config's layer_norm_eps is {eps:g}: read self.cfg.layer_norm_eps "
                 "instead of writing the number."] = centred / (var + 1e-5).sqrt() * ln.w + ln.b
    return mistakes


# Each config's own case, plus inputs of tiny variance, where eps decides the result.
CASES = [(name, batch, seq, 1.0) for name, batch, seq in MODULE_CASES] + [("small", 2, 5, 0.01), ("odd", 1, 4, 0.1)]


@pytest.mark.parametrize("cfg_name, batch, seq, scale", CASES)
def test_matches_reference(cfg_name, batch, seq, scale):
    """normalises over d_model with the biased variance, eps inside the sqrt, then scales and shifts"""
    cfg = CONFIGS[cfg_name]
    where = describe_config(cfg_name, batch, seq) + (f", inputs of size {scale:g}" if scale != 1 else "")
    ref_ln = reference_module("LayerNorm", cfg, seed=1)
    ln = learner_module(submitted(), cfg, ref_ln)
    x = random_residual(cfg, batch, seq, seed=2, scale=scale) + 0.5
    out = run_learner(ln, x)
    expect_tensor(out, shape=(batch, seq, cfg.d_model), what=f"LayerNorm output on {where}")
    with torch.no_grad():
        expect_close(out, ref_ln(x), what=f"LayerNorm output on {where}", mistakes=_mistakes(ref_ln, x),
                     axis_names=AXES)


@pytest.mark.parametrize("cfg_name", ["small", "odd"])
def test_gradients(cfg_name):
    """gradients flow to w, b and the input exactly as in the reference"""
    cfg = CONFIGS[cfg_name]
    ref_ln = reference_module("LayerNorm", cfg, seed=3)
    ln = learner_module(submitted(), cfg, ref_ln)
    expect_same_gradients(ln, ref_ln, lambda: random_residual(cfg, 2, 3, seed=4) + 0.5,
                          what=describe_config(cfg_name, 2, 3))
