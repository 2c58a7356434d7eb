"""Grader for ch5.abs_computed."""
from __future__ import annotations

import einops
import pytest
import torch

from circuitlab.ch5 import reference as ref
from circuitlab.ch5.grading_support import on_case
from circuitlab.grading.testing import expect_close, expect_tensor, fail, isolated, run_learner, seeded, submitted


def _abs_model(inst: int, feat: int, hidden: int, noise: list[float], seed: int) -> ref.NeuronModel:
    """Features 0.. get two neurons each (ReLU(x) + ReLU(-x) = |x|) while neurons last; each feature's
    weights then get noise of its own scale, so some features are computed and some are not."""
    model = ref.NeuronModel(ref.ToyConfig(inst, feat, hidden))
    with torch.no_grad(), seeded(seed):
        model.W_in.zero_()
        model.W_out.zero_()
        model.b_in.zero_()
        model.b_out.zero_()
        for f in range(min(feat, hidden // 2)):
            model.W_in[:, 2 * f, f], model.W_in[:, 2 * f + 1, f] = 1.0, -1.0
            model.W_out[:, f, 2 * f], model.W_out[:, f, 2 * f + 1] = 1.0, 1.0
        scale = torch.tensor(noise)  # (feat,)
        for i in range(inst):
            model.W_in[i] += torch.randn(hidden, feat) * scale * (i + 1) / inst
            model.W_out[i] += torch.randn(feat, hidden) * scale[:, None] * (i + 1) / inst
        model.b_out += torch.randn(inst, feat) * 0.05
    return model


def _cases():
    tie = ref.NeuronModel(ref.ToyConfig(2, 3, 2))
    with torch.no_grad():
        for p in tie.parameters():
            p.zero_()
        tie.b_out[0] = torch.tensor([0.25, 0.5, 0.125])  # value 0: errors exactly 0.25 (computed), 0.5, 0.125
        tie.b_out[1] = torch.tensor([0.0, 0.25, 1.0])
    return {
        "3 instances, 4 features, 8 neurons, 9 values in [-1, 1], tolerance 0.25":
            (lambda: _abs_model(3, 4, 8, [0.0, 0.1, 0.3, 0.8], 1), torch.linspace(-1, 1, 9), 0.25),
        "1 instance, 5 features, 6 neurons (features 3 and 4 have none), 4 values, tolerance 0.1":
            (lambda: _abs_model(1, 5, 6, [0.02, 0.05, 0.2, 0.0, 0.0], 2), torch.tensor([-0.9, -0.3, 0.4, 1.0]), 0.1),
        "2 instances, 6 features, 4 neurons, 21 values, default tolerance":
            (lambda: _abs_model(2, 6, 4, [0.0, 0.2, 0.5, 0.5, 0.5, 0.5], 3), torch.linspace(-1, 1, 21), None),
        "a single value 0.0 and outputs exactly 0.25 away (within the tolerance: <=)":
            (lambda: tie, torch.tensor([0.0]), 0.25),
    }


CASES = _cases()


def _own_outputs(model, values, all_on=False):
    inst, feat = model.cfg.n_instances, model.cfg.n_features
    eye = torch.ones(feat, feat) if all_on else torch.eye(feat)
    x = einops.repeat(values[:, None, None] * eye, "v f g -> (v f) inst g", inst=inst)
    with torch.no_grad():
        out = einops.rearrange(model(x), "(v f) inst g -> v f inst g", v=len(values))
    return torch.diagonal(out, dim1=1, dim2=3)  # (v, inst, f)


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case):
    """(inst, feat) bool: True where the feature's own output is within tolerance of |v| for every value, alone"""
    build, values, tolerance = CASES[case]
    model = build()
    args = (values.clone(),) if tolerance is None else (values.clone(), tolerance)
    t = 0.25 if tolerance is None else tolerance
    with on_case(case):
        with isolated(model, what="the model") as copy:
            out = run_learner(submitted(), copy, *args)
        expected = ref.abs_computed(model, *args)
        out = expect_tensor(out, shape=tuple(expected.shape), what="which features are computed")
        if out.dtype != torch.bool:
            fail(f"Return a boolean tensor (True where the feature is computed); yours has dtype {out.dtype}.")
        own = _own_outputs(model, values)
        error = (own - values.abs()[:, None, None]).abs()
        mistakes = {
            "The target is |v|, not ReLU(v): a negative value should give a positive output.":
                ((own - values.clamp_min(0)[:, None, None]).abs() <= t).all(0),
            "An error equal to the tolerance counts as computed: use <=, not <.": (error < t).all(0),
            "Every value must be within the tolerance (the largest error decides), not the error on average.":
                error.mean(0) <= t,
            "Run the model with one feature on at a time (the others 0): yours switches every feature on at once.":
                ((_own_outputs(model, values, all_on=True) - values.abs()[:, None, None]).abs() <= t).all(0),
            "Feed the values as given, negative ones included: yours only tried |v|.":
                ((_own_outputs(model, values.abs()) - values.abs()[:, None, None]).abs() <= t).all(0),
        }
        mistakes = {k: v for k, v in mistakes.items() if not torch.equal(v, expected)}
        expect_close(out, expected, what="which features are computed", mistakes=mistakes,
                     hint="For feature f of each instance: run the input with only feature f set to v, for each v; "
                          "True when |output_f - |v|| <= tolerance for every v.")
