"""Grader for ch4.fft1d."""
import torch

from circuitlab.ch4.reference import fourier_basis
from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


def test_matches_reference():
    """coefficients along the first axis, for a vector, a matrix and a 3D tensor"""
    for p, shape in [(7, (7,)), (13, (13, 13)), (113, (113, 4, 3))]:
        basis = fourier_basis(p)
        with seeded(p):
            x = torch.randn(shape)
        out = run_learner(submitted(), x, basis)
        expected = reference()(x, basis)
        mistakes = {
            "You applied the inverse transform (basis.T @ x); the coefficients are basis @ x, one per basis row.":
                torch.einsum("ci,c...->i...", basis, x),
            "You divided by p (or sqrt(p)); the basis is already orthonormal, so no extra normalisation is needed.":
                expected / p,
            "You divided by sqrt(p); the basis is already orthonormal, so no extra normalisation is needed.":
                expected / p ** 0.5,
        }
        if x.ndim == 2:
            mistakes["You transformed the last axis; transform the first (it indexes the input value)."] = x @ basis.T
        expect_close(out, expected, atol=1e-4, what=f"fft1d of a {tuple(shape)} tensor", mistakes=mistakes,
                     hint="out[i, ...] = sum over x of basis[i, x] * input[x, ...].")
