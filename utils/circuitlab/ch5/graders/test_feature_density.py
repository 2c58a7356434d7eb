"""Grader for ch5.feature_density."""
from __future__ import annotations

import pytest
import torch

from circuitlab.ch5.grading_support import on_case
from circuitlab.grading.testing import expect, expect_close, expect_tensor, reference, run_learner, seeded, submitted


def _cases() -> dict[str, torch.Tensor]:
    with seeded(3):
        relu_like = torch.relu(torch.randn(50, 3, 7))
        wide = torch.relu(torch.randn(9, 2, 40, dtype=torch.float64) - 1.0)
    exact_zeros = torch.tensor([[[0.0, 0.0, 1e-6, -0.0]], [[0.0, 2.0, 0.0, 0.0]], [[0.0, 3.0, 0.5, 0.0]]])
    return {
        "acts of shape (50, 3, 7) (batch, inst, d_sae)": relu_like,
        "acts of shape (9, 2, 40), float64, mostly zero": wide,
        "batch 1, acts of shape (1, 2, 3)": torch.tensor([[[0.0, 1.0, 0.2], [0.0, 0.0, 0.0]]]),
        "exact zeros and a tiny positive value, acts of shape (3, 1, 4)": exact_zeros,
        "negative pre-activations left in, acts of shape (4, 1, 3)":
            torch.tensor([[[-1.0, 0.5, 0.0]], [[-2.0, -0.1, 0.0]], [[0.3, 0.2, 0.0]], [[-0.5, 1.0, 0.0]]]),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case):
    """(inst, d_sae) floats: the fraction of inputs on which each latent is strictly positive"""
    acts = CASES[case]
    with on_case(case):
        out = run_learner(submitted(), acts.clone())
        expected = reference()(acts)
        out = expect_tensor(out, shape=tuple(expected.shape), what="the feature density")
        expect(out.is_floating_point(), f"The feature density should be a float tensor (a fraction); yours has dtype "
               f"{out.dtype}. Convert the boolean mask with .float() before averaging.")
        n = acts.shape[0]
        mistakes = {
            "Count the inputs and divide by the batch size: the density is a fraction, not a count.":
                (acts > 0).float().sum(0),
            "A latent fires when its activation is strictly positive: an activation of exactly 0 is off (use > 0).":
                (acts >= 0).float().mean(0),
            "The density is the fraction of inputs where the latent fires, not its mean activation.": acts.mean(0),
            "A negative value is not firing: count acts > 0, not acts != 0.": (acts != 0).float().mean(0),
        }
        mistakes = {k: v for k, v in mistakes.items() if not torch.allclose(v.double(), expected.double())}
        expect_close(out.double(), expected.double(), what="the feature density", mistakes=mistakes,
                     hint=f"Average over the batch axis (axis 0, {n} inputs here), per instance and latent.")
