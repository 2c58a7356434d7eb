"""Grader for ch5.phase_of."""
from __future__ import annotations

import pytest
import torch

from circuitlab.ch5.grading_support import on_case
from circuitlab.grading.testing import expect_close, expect_tensor, reference, run_learner, seeded, submitted

NAMES = {0: "IGNORED", 1: "ALONE", 2: "SUPERPOSED"}


def _random_W(inst: int, hidden: int, dtype: torch.dtype, seed: int) -> torch.Tensor:
    with seeded(seed):
        W = torch.randn(inst, hidden, 2, dtype=dtype) * 0.8
    return W


def _cases() -> dict[str, tuple[torch.Tensor, float | None]]:
    # name: (W, threshold); None means "call with the default threshold".
    every_outcome = torch.tensor([[[0.0, 0.0]], [[1.0, 0.0]], [[0.0, -1.0]], [[-0.9, 1.1]], [[1.0, 1.0]],
                                  [[0.0, 0.7]], [[-1.0, -0.2]]])
    ties = torch.tensor([[[0.5, 0.5]], [[0.5, 0.75]], [[0.75, 0.5]], [[-0.5, -0.75]]])
    hidden3 = torch.tensor([[[0.5, 0.0], [0.0, 0.0], [0.0, 0.5]],     # both norms 0.5: at the threshold 0.5
                            [[0.3, -0.3], [0.4, 0.4], [0.0, 0.0]],    # both norms 0.5 again
                            [[0.6, 0.0], [0.0, 0.1], [0.0, -0.6]]], dtype=torch.float64)
    return {
        "7 instances of shape (1, 2), one of each outcome, negative weights included, default threshold":
            (every_outcome, None),
        "norms exactly at the threshold 0.5 (a norm equal to the threshold is not represented)": (ties, 0.5),
        "W of shape (3, 3, 2), float64, threshold 0.5, norms spread over the hidden axis": (hidden3, 0.5),
        "one instance, W of shape (1, 1, 2), threshold 0.3": (torch.tensor([[[0.2, -0.4]]]), 0.3),
        "W of shape (40, 2, 2), random, threshold 0.8": (_random_W(40, 2, torch.float32, 3), 0.8),
        "all zeros, W of shape (2, 1, 2)": (torch.zeros(2, 1, 2), None),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case):
    """(inst,) torch.long: 0 = feature 1 ignored, 1 = feature 1 alone, 2 = both represented (superposed)"""
    W, threshold = CASES[case]
    args = (W.clone(),) if threshold is None else (W.clone(), threshold)
    with on_case(case):
        out = run_learner(submitted(), *args)
        expected = reference()(*args)
        out = expect_tensor(out, shape=(W.shape[0],), what="the phases")
        norms = W.norm(dim=1)
        t = 0.5 if threshold is None else threshold
        code = lambda first, extra: torch.where(extra, torch.where(first, 2, 1), 0)  # noqa: E731
        mistakes = {
            "A norm equal to the threshold counts as not represented: compare with >, not >=.":
                code(norms[:, 0] >= t, norms[:, 1] >= t),
            "Feature 1 is the extra feature: ALONE means feature 1 is represented and feature 0 is not (you "
            "swapped the roles of the two features).": code(norms[:, 1] > t, norms[:, 0] > t),
            "A weight of -1 represents its feature as well as +1 does: compare the norm (or absolute value) of the "
            "column, not the signed weight.": code(W[:, 0, 0] > t, W[:, 0, 1] > t),
            "The norm runs over the hidden axis (dim 1) of each feature's column W[i, :, f]; you took it over "
            "another axis.": code(W.norm(dim=2)[:, 0] > t, W.norm(dim=2)[:, min(1, W.shape[1] - 1)] > t)
            if W.shape[1] > 1 else None,
        }
        mistakes = {k: v for k, v in mistakes.items() if v is not None and not torch.equal(v, expected)}
        expect_close(out, expected, what="the phases", mistakes=mistakes,
                     hint="Expected, per instance: " + ", ".join(NAMES[int(c)] for c in expected[:8])
                          + (", ..." if len(expected) > 8 else "") + ".")
