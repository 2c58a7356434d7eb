"""Grader for ch5.toy_model_forward."""
import pytest
import torch
import torch.nn.functional as F

from circuitlab.ch5 import reference as ref
from circuitlab.ch5.grading_support import learner_model_with
from circuitlab.grading.testing import expect, expect_close, expect_tensor, run_learner, seeded, submitted


def _weights(cfg, seed):
    with seeded(seed):
        return {"W": torch.randn(cfg.n_instances, cfg.n_hidden, cfg.n_features) * 0.7,
                "b_final": torch.randn(cfg.n_instances, cfg.n_features) * 0.3}


@pytest.mark.parametrize("n_instances, n_features, n_hidden", [(3, 5, 2), (2, 4, 3)])
def test_matches_reference(n_instances, n_features, n_hidden):
    """forward computes ReLU(Wᵀ W x + b_final) for every instance"""
    cfg = ref.ToyConfig(n_instances, n_features, n_hidden)
    weights = _weights(cfg, seed=n_features)
    model = learner_model_with(submitted(), (cfg,), weights, "ToyModel")
    with seeded(1):
        features = torch.rand(7, n_instances, n_features)
    out = run_learner(model, features, what="your ToyModel.forward")
    reference_model = ref.ToyModel(cfg)
    reference_model.load_state_dict(weights)
    with torch.no_grad():
        expected = reference_model(features)
        W, b = weights["W"], weights["b_final"]
        hidden = torch.einsum("ihf,bif->bih", W, features)
        back = torch.einsum("ihf,bih->bif", W, hidden)
        mixed = torch.einsum("ihf,bjf->bjh", W, features)  # instances mixed: W summed over all instances
    mistakes = {
        "The output is missing its ReLU: the toy model returns ReLU(WᵀWx + b_final).": back + b,
        "b_final is added after the ReLU; it belongs inside: ReLU(WᵀWx + b_final).": F.relu(back) + b,
        "The bias is missing: ReLU(WᵀWx + b_final).": F.relu(back),
    }
    if mixed.shape == hidden.shape:
        mistakes["Instances are mixed: each instance must use only its own W (keep 'inst' on both sides of "
                 "the einsum)."] = F.relu(torch.einsum("ihf,bih->bif", W, mixed) + b)
    expect_close(out, expected, what="ToyModel output", mistakes=mistakes,
                 hint="Down with W ('inst hidden feat, batch inst feat -> batch inst hidden'), back up with Wᵀ, "
                      "add b_final, ReLU.")


def test_gradient_flows():
    """the output is differentiable with respect to W and b_final (so the model can train)"""
    cfg = ref.ToyConfig(2, 5, 2)
    model = learner_model_with(submitted(), (cfg,), _weights(cfg, seed=3), "ToyModel")
    with seeded(2):
        features = torch.rand(4, 2, 5)
    out = expect_tensor(run_learner(model, features, what="your ToyModel.forward"), shape=(4, 2, 5))
    expect(out.requires_grad, "The output does not depend on the parameters through autograd: do not use "
           ".detach(), .data or torch.no_grad() in forward.")
    out.sum().backward()
    expect(model.W.grad is not None and model.b_final.grad is not None,
           "After backward, W or b_final has no gradient: both must take part in the forward pass.")
