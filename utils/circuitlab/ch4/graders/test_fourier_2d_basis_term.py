"""Grader for ch4.fourier_2d_basis_term."""
import torch

from circuitlab.ch4.fixtures import on_input
from circuitlab.ch4.reference import fourier_basis
from circuitlab.grading.testing import expect_close, expect_tensor, reference, run_learner, submitted

# (p, dtype, (i, j) pairs): the constant term, i == j, the last row, i > j and i < j; small odd primes and 113.
CASES = [
    (5, torch.float64, [(1, 4), (0, 0), (4, 2)]),
    (7, torch.float32, [(1, 4), (0, 3), (6, 6)]),
    (113, torch.float32, [(3, 10), (27, 0), (5, 5), (112, 1)]),
]


def test_matches_reference():
    """the outer product basis[i](a) * basis[j](b), indexed [a, b], in float32 and float64"""
    for p, dtype, pairs in CASES:
        basis = fourier_basis(p).to(dtype)
        for i, j in pairs:
            case = f"the term ({i}, {j}) for p={p} ({str(dtype).replace('torch.', '')} basis)"
            out = run_learner(submitted(), i, j, basis, what=f"your fourier_2d_basis_term on {case}")
            expected = reference()(i, j, basis)
            mistakes = {
                "You added the two 1D basis vectors; a 2D basis function is their outer product, "
                "basis[i][:, None] * basis[j][None, :].": basis[i][:, None] + basis[j][None, :],
                "Your grid is transposed: index it [a, b], with basis[i] along a (rows) and basis[j] along b.":
                    expected.T,
                "You took columns of the basis; its basis vectors are rows (basis[i], not basis[:, i]).":
                    basis[:, i][:, None] * basis[:, j][None, :],
                "You multiplied the two basis vectors entry by entry (shape (p,)); the 2D function needs every "
                "pair (a, b): an outer product, shape (p, p).": basis[i] * basis[j],
            }
            expect_tensor(out, dtype="float", what=case)
            expect_close(out, expected, atol=1e-6, what=case, mistakes=on_input(case, mistakes), axis_names=("a", "b"),
                         hint="f[a, b] = basis[i][a] * basis[j][b].")
