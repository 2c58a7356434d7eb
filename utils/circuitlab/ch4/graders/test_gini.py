"""Grader for ch4.gini: the Gini coefficient along the last axis, brute force (every pair of entries)."""
from __future__ import annotations

from typing import Iterator

import torch
from torch import Tensor

from circuitlab.ch4.fixtures import final_model, on_input
from circuitlab.ch4.reference import fft1d, fourier_basis
from circuitlab.grading.testing import expect_close, expect_tensor, fail, run_learner, seeded, submitted


def _pairwise(x: Tensor, scale: float = 1.0) -> Tensor:
    """Σ_i Σ_j |x_i - x_j| / (2 n Σ x), 0 for a row that sums to zero; ``scale`` multiplies the result."""
    x = x.double()
    n = x.shape[-1]
    spread = (x[..., :, None] - x[..., None, :]).abs().sum((-1, -2))
    total = x.sum(-1)
    return torch.where(total > 0, scale * spread / (2 * n * total.clamp(min=1e-300)), torch.zeros_like(total))


def _sorted_formula(x: Tensor, order: str) -> Tensor:
    """The sorted-rank formula applied without sorting or sorted the wrong way (the mistakes)."""
    x = x.double()
    n = x.shape[-1]
    if order == "descending":
        x = x.sort(-1, descending=True).values
    weights = 2 * torch.arange(1, n + 1, dtype=torch.float64) - n - 1
    total = x.sum(-1)
    return torch.where(total > 0, (weights * x).sum(-1) / (n * total.clamp(min=1e-300)), torch.zeros_like(total))


def _cases() -> Iterator[tuple[str, Tensor]]:
    p = final_model().cfg.d_vocab_out
    norms = fft1d(final_model().W_E[:p].detach(), fourier_basis(p)).norm(dim=-1)
    yield f"the norms of the shipped embedding's Fourier components (shape ({p},), float32)", norms
    yield "the vector [3, 0, 1, 2] (float32; an unsorted input)", torch.tensor([3.0, 0.0, 1.0, 2.0])
    with seeded(0):
        rows = torch.rand(5, 7, dtype=torch.float64)
    rows[1] = 0.0  # all zero: no inequality
    rows[2] = 0.4  # all equal: 0
    rows[3] = torch.tensor([0, 0, 0, 5.0, 0, 0, 0], dtype=torch.float64)  # one entry holds everything: 6/7
    yield ("a (5, 7) float64 batch (row 1 all zeros, row 2 all equal, row 3 with a single non-zero entry)", rows)
    with seeded(1):
        yield "a (2, 3, 4) float32 tensor", torch.rand(2, 3, 4) ** 3
    yield "a (4, 1) tensor (one entry per row: Gini 0)", torch.tensor([[2.0], [0.0], [1.0], [5.0]])


def test_matches_reference():
    """the Gini coefficient of each row (last axis), shape x.shape[:-1], on 1D to 3D inputs and edge cases"""
    for what, x in _cases():
        out = run_learner(submitted(), x.clone(), what=f"your gini on {what}")
        expected = _pairwise(x)
        if isinstance(out, Tensor) and out.shape == expected.shape and out.is_floating_point():
            zero_rows = x.sum(-1) == 0
            if bool(torch.isnan(out.detach())[zero_rows].any()):
                fail(f"On {what}: your Gini of a row of all zeros is NaN (0 / 0). A row with no mass has no "
                     "inequality: return 0 there (torch.where on the row's sum).")
        expect_tensor(out, shape=tuple(expected.shape), dtype="float", what=f"the Gini coefficients of {what}")
        n = x.shape[-1]
        mistakes = {
            "You did not sort each row: the rank formula Σ (2i - n - 1) x_(i) needs x sorted ascending.":
                _sorted_formula(x, "unsorted"),
            "You sorted descending, which flips the sign; sort ascending (the largest entry gets the largest "
            "weight).": _sorted_formula(x, "descending"),
        }
        if n > 1:
            mistakes["You normalised by n - 1 (so that one non-zero entry gives 1); the spec's Gini divides by "
                     "2 n Σ x, so a single non-zero entry gives (n - 1) / n."] = _pairwise(x, n / (n - 1))
            mistakes["You divided by n² Σ x; the spec divides by 2 n Σ x (each pair is counted twice in "
                     "Σ_i Σ_j)."] = _pairwise(x, 2 / n)
        expect_close(out.detach().double(), expected, atol=1e-6, rtol=1e-5, what=f"the Gini coefficients of {what}",
                     mistakes=on_input(what, mistakes),
                     hint="G = Σ_i Σ_j |x_i - x_j| / (2 n Σ_i x_i) along the last axis.")

