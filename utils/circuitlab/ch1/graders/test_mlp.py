"""Grader for ch1.mlp."""
import pytest
import torch
import torch.nn.functional as F

from circuitlab.ch1.grading_support import (
    CONFIGS, MODULE_CASES, describe_config, expect_same_gradients, learner_module, random_residual, reference_module,
)
from circuitlab.ch1.reference import gelu_new
from circuitlab.grading.testing import expect_close, expect_tensor, run_learner, submitted


def _mistakes(mlp, x):
    pre = x @ mlp.W_in + mlp.b_in
    return {
        "You used the exact (erf) GELU. GPT-2 uses its tanh approximation: F.gelu(x, approximate='tanh').":
            F.gelu(pre) @ mlp.W_out + mlp.b_out,
        "You used ReLU; GPT-2's MLP uses GELU (tanh approximation).": F.relu(pre) @ mlp.W_out + mlp.b_out,
        "You left out the nonlinearity: without it the MLP is just one linear map.": pre @ mlp.W_out + mlp.b_out,
        "A bias is missing: add b_in after W_in (before the GELU).": gelu_new(x @ mlp.W_in) @ mlp.W_out + mlp.b_out,
        "A bias is missing: add b_out after W_out.": gelu_new(pre) @ mlp.W_out,
    }


@pytest.mark.parametrize("cfg_name, batch, seq", MODULE_CASES)
def test_matches_reference(cfg_name, batch, seq):
    """W_in, GELU (tanh approximation), W_out, with both biases"""
    cfg = CONFIGS[cfg_name]
    where = describe_config(cfg_name, batch, seq)
    ref_mlp = reference_module("MLP", cfg, seed=21)
    mlp = learner_module(submitted(), cfg, ref_mlp)
    x = random_residual(cfg, batch, seq, seed=22)
    out = run_learner(mlp, x)
    expect_tensor(out, shape=(batch, seq, cfg.d_model), what=f"MLP output on {where}")
    with torch.no_grad():
        expect_close(out, ref_mlp(x), what=f"MLP output on {where}", mistakes=_mistakes(ref_mlp, x),
                     axis_names=("batch", "position", "d_model"))


def test_gradients():
    """gradients reach W_in, b_in, W_out, b_out and the input as in the reference"""
    cfg = CONFIGS["odd"]
    ref_mlp = reference_module("MLP", cfg, seed=23)
    mlp = learner_module(submitted(), cfg, ref_mlp)
    expect_same_gradients(mlp, ref_mlp, lambda: random_residual(cfg, 2, 3, seed=24), what=describe_config("odd", 2, 3))
