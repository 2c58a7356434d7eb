"""Grader for ch5.toy_model_forward."""
import pytest
import torch
import torch.nn.functional as F

from circuitlab.ch5 import reference as ref
from circuitlab.ch5.grading_support import (
    expect_matches, expect_parameter_gradients, expect_parameters_unchanged, learner_model_with, on_case,
)
from circuitlab.grading.testing import expect, expect_tensor, run_learner, seeded, submitted

CONFIGS = {
    # name: (n_instances, n_features, n_hidden, batch)
    "3 instances, 5 features, 2 hidden, batch 7": (3, 5, 2, 7),
    "1 instance, 4 features, 3 hidden, batch 1": (1, 4, 3, 1),
    "4 instances, 6 features, 1 hidden, batch 5": (4, 6, 1, 5),
    "2 instances, 3 features, 5 hidden, batch 2": (2, 3, 5, 2),
}


def _weights(cfg, seed):
    with seeded(seed):
        return {"W": torch.randn(cfg.n_instances, cfg.n_hidden, cfg.n_features) * 0.7,
                "b_final": torch.randn(cfg.n_instances, cfg.n_features) * 0.3}


def _setup(case):
    n_instances, n_features, n_hidden, batch = CONFIGS[case]
    cfg = ref.ToyConfig(n_instances, n_features, n_hidden)
    weights = _weights(cfg, seed=n_features + n_hidden)
    with seeded(1):
        features = torch.rand(batch, n_instances, n_features)
    expected_model = ref.ToyModel(cfg)
    expected_model.load_state_dict(weights)
    return cfg, weights, features, expected_model


@pytest.mark.parametrize("case", list(CONFIGS))
def test_matches_reference(case):
    """forward computes ReLU(Wᵀ W x + b_final) for every instance, shape (batch, inst, feat)"""
    cfg, weights, features, expected_model = _setup(case)
    with on_case(f"ToyConfig{(cfg.n_instances, cfg.n_features, cfg.n_hidden)}, features {tuple(features.shape)}"):
        model = learner_model_with(submitted(), (cfg,), weights, "ToyModel")
        out = run_learner(model, features, what="your ToyModel.forward")
        expect_parameters_unchanged(model, weights, "your ToyModel.forward")
        with torch.no_grad():
            expected = expected_model(features)
            W, b = weights["W"], weights["b_final"]
            hidden = torch.einsum("ihf,bif->bih", W, features)
            back = torch.einsum("ihf,bih->bif", W, hidden)
        mistakes = {
            "The output is missing its ReLU: the toy model returns ReLU(WᵀWx + b_final).": back + b,
            "b_final is added after the ReLU; it belongs inside: ReLU(WᵀWx + b_final).": F.relu(back) + b,
            "The bias is missing: ReLU(WᵀWx + b_final).": F.relu(back),
        }
        if cfg.n_instances > 1:
            mixed = torch.einsum("ihf,bjf->bjh", W, features)  # W summed over all instances
            mistakes["Instances are mixed: each instance must use only its own W (keep 'inst' on both sides of "
                     "the einsum)."] = F.relu(torch.einsum("ihf,bih->bif", W, mixed) + b)
        out = expect_tensor(out, shape=tuple(expected.shape), dtype="float", what="the ToyModel output")
        expect_matches(out, expected, ["batch", "instance", "feature"], what="the ToyModel output",
                       mistakes=mistakes, hint="Down with W ('inst hidden feat, batch inst feat -> batch inst "
                                               "hidden'), back up with Wᵀ, add b_final, ReLU.")


@pytest.mark.parametrize("case", list(CONFIGS)[:3])
def test_gradients(case):
    """the gradients of W and b_final equal the reference's (the model trains through forward)"""
    cfg, weights, features, expected_model = _setup(case)
    with on_case(f"ToyConfig{(cfg.n_instances, cfg.n_features, cfg.n_hidden)}, features {tuple(features.shape)}"):
        model = learner_model_with(submitted(), (cfg,), weights, "ToyModel")
        out = run_learner(model, features, what="your ToyModel.forward")
        out = expect_tensor(out, shape=tuple(features.shape), dtype="float", what="the ToyModel output")
        expect(out.requires_grad, "The output does not depend on the parameters through autograd: do not use "
               ".detach(), .data or torch.no_grad() in forward.")
        with seeded(4):
            upstream = torch.randn(features.shape)
        expect_parameter_gradients(model, expected_model, out, expected_model(features), upstream,
                                   "your ToyModel's output")
