"""Grader for ch5.variance_explained."""
from __future__ import annotations

import pytest
import torch

from circuitlab.ch5.grading_support import on_case
from circuitlab.grading.testing import expect_close, expect_tensor, reference, run_learner, seeded, submitted


def _cases() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    with seeded(8):
        h = torch.randn(64, 3, 5) * 2 + torch.tensor([3.0, -1.0, 0.5])[None, :, None]  # a mean away from 0
        recon = h + 0.7 * torch.randn(64, 3, 5)
        h2 = torch.randn(6, 2, 1, dtype=torch.float64) + 4.0
        recon2 = h2 * 0.5
        h3 = torch.randn(2, 1, 3)
    return {
        "h and recon of shape (64, 3, 5), each instance's mean away from 0": (h, recon),
        "shape (6, 2, 1), float64, recon = h / 2": (h2, recon2),
        "batch 2, one instance, recon = h (a perfect reconstruction: 1)": (h3, h3.clone()),
        "recon = the mean of h (explains nothing: 0), shape (64, 3, 5)": (h, h.mean(0, keepdim=True).expand_as(h)),
        "recon = 0, shape (64, 3, 5) (worse than the mean: negative)": (h, torch.zeros_like(h)),
    }


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case):
    """(inst,): 1 - sum (recon - h)**2 / sum (h - mean h)**2, sums over batch and d_in"""
    h, recon = CASES[case]
    with on_case(case):
        out = run_learner(submitted(), h.clone(), recon.clone())
        expected = reference()(h, recon)
        out = expect_tensor(out, shape=(h.shape[1],), dtype="float", what="the variance explained")
        error = ((recon - h) ** 2).sum((0, 2))
        mistakes = {
            "Centre h on its mean over the batch before squaring in the denominator: the variance is the spread "
            "around the mean, not around 0.": 1 - error / (h**2).sum((0, 2)),
            "The denominator is the variance of h, around h's mean over the batch, per instance; you took the mean "
            "over d_in (or over everything) instead.": 1 - error / ((h - h.mean(-1, keepdim=True)) ** 2).sum((0, 2)),
            "Return 1 minus the ratio: the fraction of the variance the reconstruction explains, not the fraction "
            "left over.": error / ((h - h.mean(0, keepdim=True)) ** 2).sum((0, 2)),
            "Sum over the batch and d_in together (one ratio per instance), not a mean of per-input ratios.":
                1 - (((recon - h) ** 2).sum(-1) / ((h - h.mean(0, keepdim=True)) ** 2).sum(-1).clamp_min(1e-12)).mean(0),
        }
        mistakes = {k: v for k, v in mistakes.items() if not torch.allclose(v, expected, atol=1e-5, rtol=1e-4)}
        expect_close(out, expected.detach(), what="the variance explained", atol=1e-5, rtol=1e-4, mistakes=mistakes)
