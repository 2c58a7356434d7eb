"""Grader for ch5.neuron_model_forward."""
import pytest
import torch
import torch.nn.functional as F

from circuitlab.ch5 import reference as ref
from circuitlab.ch5.grading_support import learner_model_with
from circuitlab.grading.testing import expect, expect_close, run_learner, seeded, submitted


def _weights(cfg, seed):
    n, f, h = cfg.n_instances, cfg.n_features, cfg.n_hidden
    with seeded(seed):
        return {"W_in": torch.randn(n, h, f) * 0.7, "b_in": torch.randn(n, h) * 0.5,
                "W_out": torch.randn(n, f, h) * 0.7, "b_out": torch.randn(n, f) * 0.3}


@pytest.mark.parametrize("n_instances, n_features, n_hidden", [(3, 5, 2), (2, 4, 6)])
def test_matches_reference(n_instances, n_features, n_hidden):
    """forward computes ReLU(W_out ReLU(W_in x + b_in) + b_out) for every instance"""
    cfg = ref.ToyConfig(n_instances, n_features, n_hidden)
    weights = _weights(cfg, seed=n_hidden)
    model = learner_model_with(submitted(), (cfg,), weights, "NeuronModel")
    with seeded(1):
        features = torch.rand(7, n_instances, n_features)
    out = run_learner(model, features, what="your NeuronModel.forward")
    expected_model = ref.NeuronModel(cfg)
    expected_model.load_state_dict(weights)
    W_in, b_in, W_out, b_out = (weights[k] for k in ("W_in", "b_in", "W_out", "b_out"))
    with torch.no_grad():
        expected = expected_model(features)
        pre = torch.einsum("ihf,bif->bih", W_in, features)

        def up(hidden):
            return torch.einsum("ifh,bih->bif", W_out, hidden) + b_out

    expect_close(out, expected, what="NeuronModel output", mistakes={
        "The hidden layer is missing its ReLU: h = ReLU(W_in x + b_in). That ReLU is what makes the neuron "
        "basis privileged.": F.relu(up(pre + b_in)),
        "The output is missing its ReLU: x' = ReLU(W_out h + b_out).": up(F.relu(pre + b_in)),
        "The hidden bias b_in is missing: h = ReLU(W_in x + b_in).": F.relu(up(F.relu(pre))),
    }, hint="h = ReLU(W_in x + b_in), then x' = ReLU(W_out h + b_out), per instance.")


def test_gradient_flows():
    """all four parameters receive gradients"""
    cfg = ref.ToyConfig(2, 4, 3)
    model = learner_model_with(submitted(), (cfg,), _weights(cfg, seed=5), "NeuronModel")
    with seeded(2):
        features = torch.rand(16, 2, 4)
    out = run_learner(model, features, what="your NeuronModel.forward")
    expect(getattr(out, "requires_grad", False), "The output does not depend on the parameters through autograd.")
    out.sum().backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None]
    expect(not missing, f"These parameters got no gradient, so they take no part in forward: {missing}.")
