"""Grader for ch5.neuron_model_forward."""
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
    "3 instances, 5 features, 2 neurons, batch 7": (3, 5, 2, 7),
    "2 instances, 4 features, 6 neurons, batch 1": (2, 4, 6, 1),
    "1 instance, 3 features, 1 neuron, batch 4": (1, 3, 1, 4),
}


def _weights(cfg, seed):
    n, f, h = cfg.n_instances, cfg.n_features, cfg.n_hidden
    with seeded(seed):
        return {"W_in": torch.randn(n, h, f) * 0.7, "b_in": torch.randn(n, h) * 0.5,
                "W_out": torch.randn(n, f, h) * 0.7, "b_out": torch.randn(n, f) * 0.3}


def _setup(case):
    n_instances, n_features, n_hidden, batch = CONFIGS[case]
    cfg = ref.ToyConfig(n_instances, n_features, n_hidden)
    weights = _weights(cfg, seed=n_hidden + n_features)
    with seeded(1):
        features = torch.rand(batch, n_instances, n_features)
    expected_model = ref.NeuronModel(cfg)
    expected_model.load_state_dict(weights)
    return cfg, weights, features, expected_model


def _name(cfg, features):
    return f"ToyConfig{(cfg.n_instances, cfg.n_features, cfg.n_hidden)}, features {tuple(features.shape)}"


@pytest.mark.parametrize("case", list(CONFIGS))
def test_matches_reference(case):
    """forward computes ReLU(W_out ReLU(W_in x + b_in) + b_out) for every instance"""
    cfg, weights, features, expected_model = _setup(case)
    with on_case(_name(cfg, features)):
        model = learner_model_with(submitted(), (cfg,), weights, "NeuronModel")
        out = run_learner(model, features, what="your NeuronModel.forward")
        expect_parameters_unchanged(model, weights, "your NeuronModel.forward")
        W_in, b_in, W_out, b_out = (weights[k] for k in ("W_in", "b_in", "W_out", "b_out"))
        with torch.no_grad():
            expected = expected_model(features)
            pre = torch.einsum("ihf,bif->bih", W_in, features)

            def up(hidden):
                return torch.einsum("ifh,bih->bif", W_out, hidden) + b_out

            mistakes = {
                "The hidden layer is missing its ReLU: h = ReLU(W_in x + b_in). That ReLU is what makes the neuron "
                "basis privileged.": F.relu(up(pre + b_in)),
                "The output is missing its ReLU: x' = ReLU(W_out h + b_out).": up(F.relu(pre + b_in)),
                "The hidden bias b_in is missing: h = ReLU(W_in x + b_in).": F.relu(up(F.relu(pre))),
                "The output bias b_out is missing: x' = ReLU(W_out h + b_out).": F.relu(up(F.relu(pre + b_in)) - b_out),
            }
        out = expect_tensor(out, shape=tuple(expected.shape), dtype="float", what="the NeuronModel output")
        expect_matches(out, expected, ["batch", "instance", "feature"], what="the NeuronModel output",
                       mistakes=mistakes, hint="h = ReLU(W_in x + b_in), then x' = ReLU(W_out h + b_out), per instance.")


@pytest.mark.parametrize("case", list(CONFIGS))
def test_gradients(case):
    """the gradients of all four parameters equal the reference's"""
    cfg, weights, features, expected_model = _setup(case)
    with on_case(_name(cfg, features)):
        model = learner_model_with(submitted(), (cfg,), weights, "NeuronModel")
        out = run_learner(model, features, what="your NeuronModel.forward")
        out = expect_tensor(out, shape=tuple(features.shape), dtype="float", what="the NeuronModel output")
        expect(out.requires_grad, "The output does not depend on the parameters through autograd.")
        with seeded(4):
            upstream = torch.randn(features.shape)
        expect_parameter_gradients(model, expected_model, out, expected_model(features), upstream,
                                   "your NeuronModel's output")
