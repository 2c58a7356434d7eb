"""Grader for ch4.fft2d."""
import torch

from circuitlab.ch4.reference import fourier_basis
from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


def test_matches_reference():
    """coefficients over the first two axes, for a grid and a batch of grids"""
    for p, extra in [(7, ()), (13, (5,)), (113, (3,))]:
        basis = fourier_basis(p)
        with seeded(p):
            x = torch.randn(p, p, *extra)
        out = run_learner(submitted(), x, basis)
        expected = reference()(x, basis)
        sum_terms = (torch.einsum("ia,a...->i...", basis, x.sum(1))[:, None]
                     + torch.einsum("jb,b...->j...", basis, x.sum(0))[None, :])
        mistakes = {
            "You projected onto 2D basis functions made by adding the 1D ones; they are outer products, "
            "basis[i](a) * basis[j](b).": sum_terms,
            "Your i and j axes are swapped: out[i, j] pairs basis[i] (along a) with basis[j] (along b).":
                expected.transpose(0, 1),
            "You transformed only the first axis (a); transform b too.": torch.einsum("ia,ab...->ib...", basis, x),
            "You applied the inverse transform (basis.T); coefficients use basis @ x on each axis.":
                torch.einsum("bj,ib...->ij...", basis, torch.einsum("ai,ab...->ib...", basis, x)),
        }
        expect_close(out, expected, atol=1e-4, what=f"fft2d of a {tuple(x.shape)} tensor", mistakes=mistakes,
                     hint="out[i, j, ...] = sum over a, b of basis[i, a] * basis[j, b] * x[a, b, ...].")
