"""Grader for ch4.fft2d."""
import torch

from circuitlab.ch4.fixtures import on_input
from circuitlab.ch4.reference import fourier_basis
from circuitlab.grading.testing import expect_close, expect_tensor, reference, run_learner, seeded, submitted

# (p, trailing axes, dtype): a bare grid, a trailing axis of length 1 (a bare .squeeze() loses it), batches of
# grids, float32 and float64, small odd primes and the chapter's p = 113.
CASES = [
    (5, (), torch.float64),
    (7, (1,), torch.float32),
    (13, (5,), torch.float64),
    (7, (2, 3), torch.float32),
    (113, (3,), torch.float32),
]


def _label(p, shape, dtype):
    return f"a {tuple(shape)} {str(dtype).replace('torch.', '')} tensor (p={p})"


def test_matches_reference():
    """coefficients over the first two axes, for a grid and batches of grids, in float32 and float64"""
    for p, extra, dtype in CASES:
        basis = fourier_basis(p).to(dtype)
        with seeded(p + len(extra)):
            x = torch.randn(p, p, *extra, dtype=dtype)
        case = _label(p, x.shape, dtype)
        out = run_learner(submitted(), x, basis, what=f"your fft2d on {case}")
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
        what = f"fft2d of {case}"
        expect_tensor(out, dtype="float", what=what)
        expect_close(out, expected, atol=1e-4, what=what, mistakes=on_input(case, mistakes),
                     axis_names=("i", "j") + tuple(f"axis {d}" for d in range(2, x.ndim)),
                     hint="out[i, j, ...] = sum over a, b of basis[i, a] * basis[j, b] * x[a, b, ...]; the axes after "
                          "the first two are kept as they are.")
