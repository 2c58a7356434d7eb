"""Grader for ch5.dimensions_per_feature."""
from __future__ import annotations

import math

import pytest
import torch

from circuitlab.ch5.grading_support import on_case
from circuitlab.grading.testing import expect, expect_close, expect_tensor, reference, run_learner, seeded, submitted


def _cases() -> dict[str, torch.Tensor]:
    with seeded(4):
        a = torch.randn(3, 4, 10)
        b = torch.randn(1, 2, 5, dtype=torch.float64) * 0.3
    pair = torch.tensor([[[1.0, -1.0, 0.0], [0.0, 0.0, 0.0]]])  # 2 dimensions, a pair: 2 / 2 = 1
    angles = torch.arange(5) * 2 * math.pi / 5
    pentagon = torch.stack([angles.cos(), angles.sin()])[None]  # 2 / 5
    return {
        "W of shape (3, 4, 10) (inst, hidden, feat)": a,
        "W of shape (1, 2, 5), float64 (one instance)": b,
        "an antipodal pair and an unused feature in 2 dimensions (D* = 1)": pair,
        "a regular pentagon of unit vectors in 2 dimensions (D* = 2/5)": pentagon,
        "W of shape (2, 3, 4) with instance 1 exactly zero (D* = inf there)":
            torch.cat([torch.ones(1, 3, 4) * 0.5, torch.zeros(1, 3, 4)]),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case):
    """(inst,): n_hidden / sum of W**2 over hidden and features; inf where W is 0"""
    W = CASES[case]
    with on_case(case):
        out = run_learner(submitted(), W.clone())
        expected = reference()(W)
        out = expect_tensor(out, shape=(W.shape[0],), what="the dimensions per feature") if not torch.isinf(
            expected).any() else out
        if torch.isinf(expected).any():
            expect(isinstance(out, torch.Tensor) and tuple(out.shape) == (W.shape[0],),
                   f"Return a tensor of shape ({W.shape[0]},), one value per instance.")
            expect(bool(torch.isinf(out[torch.isinf(expected)]).all()),
                   "An instance with W = 0 has no represented feature: n_hidden / 0 is inf. Do not clamp or add an "
                   "epsilon to the denominator.")
            keep = ~torch.isinf(expected)
            out, expected = out[keep], expected[keep]
        n_hidden, n_feat = W.shape[1], W.shape[2]
        frob = (W**2).sum((1, 2))
        mistakes = {
            "Use the squared Frobenius norm (the sum of W**2), not the norm itself.": n_hidden / frob.sqrt(),
            "The numerator is the number of hidden dimensions, W.shape[1], not the number of features.": n_feat / frob,
            "D* is n_hidden / ||W||_F**2, not its inverse.": frob / n_hidden,
            "Sum the squared norms of the feature columns, |W_i|**2, not their norms |W_i|.": n_hidden / W.norm(dim=1).sum(-1),
        }
        keep = ~torch.isinf(reference()(W))
        mistakes = {k: v[keep] for k, v in mistakes.items() if not torch.allclose(v[keep], expected)}
        expect_close(out, expected, what="the dimensions per feature", mistakes=mistakes)
