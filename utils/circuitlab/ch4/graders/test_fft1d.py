"""Grader for ch4.fft1d."""
import torch

from circuitlab.ch4.fixtures import on_input
from circuitlab.ch4.reference import fourier_basis
from circuitlab.grading.testing import expect_close, expect_tensor, reference, run_learner, seeded, submitted

# (p, shape of x, dtype): a square matrix first (transforming the wrong axis still gives the right shape), a
# vector, a trailing axis of length 1 (a bare .squeeze() loses it), several trailing axes, float32 and float64.
CASES = [
    (13, (13, 13), torch.float32),
    (5, (5,), torch.float32),
    (7, (7, 1), torch.float64),
    (7, (7, 2, 1, 3), torch.float64),
    (113, (113, 4, 3), torch.float32),
]


def _label(p, shape, dtype):
    return f"a {tuple(shape)} {str(dtype).replace('torch.', '')} tensor (p={p})"


def test_matches_reference():
    """coefficients along the first axis, for vectors and tensors with trailing axes, in float32 and float64"""
    for p, shape, dtype in CASES:
        basis = fourier_basis(p).to(dtype)
        with seeded(p + len(shape)):
            x = torch.randn(shape, dtype=dtype)
        case = _label(p, shape, dtype)
        out = run_learner(submitted(), x, basis, what=f"your fft1d on {case}")
        expected = reference()(x, basis)
        mistakes = {
            "You applied the inverse transform (basis.T @ x); the coefficients are basis @ x, one per basis row.":
                torch.einsum("ci,c...->i...", basis, x),
            "You divided by p; the basis is already orthonormal, so no extra normalisation is needed.":
                expected / p,
            "You divided by sqrt(p); the basis is already orthonormal, so no extra normalisation is needed.":
                expected / p ** 0.5,
        }
        if x.ndim == 2 and x.shape[1] == p:
            mistakes["You transformed the last axis; transform the first (it indexes the input value)."] = x @ basis.T
        what = f"fft1d of {case}"
        expect_tensor(out, dtype="float", what=what)
        expect_close(out, expected, atol=1e-4, what=what, mistakes=on_input(case, mistakes),
                     axis_names=("component",) + tuple(f"axis {d}" for d in range(1, x.ndim)),
                     hint="out[i, ...] = sum over x of basis[i, x] * input[x, ...]; every axis after the first is "
                          "kept as it is.")
