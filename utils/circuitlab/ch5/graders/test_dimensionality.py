"""Grader for ch5.dimensionality."""
import math

import pytest
import torch

from circuitlab.ch5.grading_support import expect_matches, on_case
from circuitlab.grading.testing import expect, expect_tensor, reference, run_learner, seeded, submitted

CONFIGS = {
    # name: (inst, hidden, feat, zero columns as (instance, feature))
    "W of shape (3, 4, 6) (inst, hidden, feat), feature 2 of instance 1 exactly zero": (3, 4, 6, [(1, 2)]),
    "W of shape (2, 2, 5)": (2, 2, 5, []),
    "W of shape (1, 1, 3) (one instance, one hidden dimension)": (1, 1, 3, []),
    "W of shape (4, 3, 1) (a single feature), instance 3 exactly zero": (4, 3, 1, [(3, 0)]),
}


def _W(inst, hidden, feat, zeros, seed):
    with seeded(seed):
        W = torch.randn(inst, hidden, feat) * 1.5
    for i, f in zeros:
        W[i, :, f] = 0.0
    return W


def _mistakes(W):
    norms = W.norm(dim=1)
    safe = norms.clamp_min(1e-8)
    dots = torch.einsum("ihf,ihg->ifg", W, W)
    unit_dots = dots / safe[:, :, None]
    guard = norms > 1e-8

    def guarded(value):
        return torch.where(guard, torch.nan_to_num(value), torch.zeros_like(value))

    return {
        "The overlaps in the denominator use W_i itself, not its unit vector W_i / |W_i|: divide by |W_i| "
        "before dotting with W_j (or equivalently use |W_i|**4 in the numerator).": guarded(norms**2 / (dots**2).sum(-1)),
        "The numerator should be the squared norm |W_i|**2, not the norm.": guarded(norms / (unit_dots**2).sum(-1)),
        "Square each overlap in the denominator before summing over j.": guarded(norms**2 / unit_dots.abs().sum(-1)),
        "The denominator leaves out j = i; the sum runs over all features, including i itself.":
            guarded(norms**2 / ((unit_dots**2).sum(-1) - norms**2)),
    }


@pytest.mark.parametrize("case", list(CONFIGS))
def test_matches_reference(case):
    """(inst, feat): |W_i|**2 over the sum of squared overlaps of unit(W_i) with every W_j; 0 where W_i = 0"""
    inst, hidden, feat, zeros = CONFIGS[case]
    W = _W(inst, hidden, feat, zeros, seed=feat + hidden)
    with on_case(case):
        out = run_learner(submitted(), W.clone())
        expect(not (isinstance(out, torch.Tensor) and out.is_floating_point() and torch.isnan(out).any()),
               "Your dimensionality has NaN where W_i = 0: a feature the model ignores has dimensionality 0; "
               "guard the 0/0 (torch.where(norm > 0, value, 0)).")
        expected = reference()(W)
        out = expect_tensor(out, shape=(inst, feat), dtype="float", what="the dimensionality")
        mistakes = _mistakes(W)
        expect_matches(out, expected, ["instance", "feature"], what="the dimensionality", atol=1e-4, rtol=1e-3,
                       mistakes=mistakes, hint="D_i = |W_i|**2 / sum_j (unit(W_i) . W_j)**2, one value per "
                                               "(instance, feature).")


def test_known_geometries():
    """closed forms: 1 for a feature with its own dimension, 1/2 in an antipodal pair, 2/5 in a pentagon, 0 if W_i = 0"""
    angles = torch.arange(5) * 2 * math.pi / 5
    pentagon = torch.stack([angles.cos(), angles.sin()]) * 0.8  # (2 hidden, 5 feat)
    own_and_pair = torch.tensor([[1.0, -1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0, 0.0]])
    W = torch.stack([own_and_pair, pentagon])  # (2 inst, 2 hidden, 5 feat)
    expected = torch.tensor([[0.5, 0.5, 1.0, 0.0, 0.0], [0.4] * 5])
    with on_case("an antipodal pair, a feature on its own axis and two zero columns (instance 0); a regular "
                 "pentagon (instance 1)"):
        out = run_learner(submitted(), W.clone())
        expect(not (isinstance(out, torch.Tensor) and out.is_floating_point() and torch.isnan(out).any()),
               "A feature the model ignores (W_i = 0) should have dimensionality 0, not NaN: guard the 0/0.")
        out = expect_tensor(out, shape=(2, 5), dtype="float", what="the dimensionality")
        expect_matches(out, expected, ["instance", "feature"], what="the dimensionality", atol=1e-4,
                       hint="Expected 1/2 for each feature of the antipodal pair, 1 for the feature on its own axis, "
                            "0 for the zero columns and 2/5 for each corner of the pentagon.")
