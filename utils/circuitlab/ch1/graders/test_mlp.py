"""Grader for ch1.mlp."""
import pytest
import torch
import torch.nn.functional as F

from circuitlab.ch1.grading_support import CONFIGS, learner_module, random_residual, reference_module
from circuitlab.ch1.reference import gelu_new
from circuitlab.grading.testing import expect_close, expect_tensor, run_learner, submitted


def _mistakes(mlp, x):
    pre = x @ mlp.W_in + mlp.b_in
    return {
        "You used the exact (erf) GELU. GPT-2 uses its tanh approximation: F.gelu(x, approximate='tanh').":
            F.gelu(pre) @ mlp.W_out + mlp.b_out,
        "You used ReLU; GPT-2's MLP uses GELU (tanh approximation).": F.relu(pre) @ mlp.W_out + mlp.b_out,
        "You left out the nonlinearity: without it the MLP is just one linear map.": pre @ mlp.W_out + mlp.b_out,
        "A bias is missing: add b_in after W_in and b_out after W_out.": gelu_new(x @ mlp.W_in) @ mlp.W_out + mlp.b_out,
    }


@pytest.mark.parametrize("cfg_name", ["small", "wide"])
def test_matches_reference(cfg_name):
    """W_in, GELU (tanh approximation), W_out, with both biases"""
    cfg = CONFIGS[cfg_name]
    ref_mlp = reference_module("MLP", cfg, seed=21)
    mlp = learner_module(submitted(), cfg, ref_mlp)
    x = random_residual(cfg, 2, 5, seed=22)
    out = run_learner(mlp, x)
    expect_tensor(out, shape=(2, 5, cfg.d_model), what="MLP output")
    with torch.no_grad():
        expect_close(out, ref_mlp(x), what="MLP output", mistakes=_mistakes(ref_mlp, x))
