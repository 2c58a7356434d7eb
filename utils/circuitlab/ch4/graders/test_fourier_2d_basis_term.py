"""Grader for ch4.fourier_2d_basis_term."""
from circuitlab.ch4.reference import fourier_basis
from circuitlab.grading.testing import expect_close, reference, run_learner, submitted


def test_matches_reference():
    """the outer product basis[i](a) * basis[j](b), indexed [a, b]"""
    for p, pairs in [(7, [(1, 4), (0, 3)]), (113, [(3, 10), (27, 0), (5, 5)])]:
        basis = fourier_basis(p)
        for i, j in pairs:
            out = run_learner(submitted(), i, j, basis)
            expected = reference()(i, j, basis)
            mistakes = {
                "You added the two 1D basis vectors; a 2D basis function is their outer product, "
                "basis[i][:, None] * basis[j][None, :].": basis[i][:, None] + basis[j][None, :],
                "Your grid is transposed: index it [a, b], with basis[i] along a (rows) and basis[j] along b.":
                    expected.T,
                "You took columns of the basis; its basis vectors are rows (basis[i], not basis[:, i]).":
                    basis[:, i][:, None] * basis[:, j][None, :],
            }
            expect_close(out, expected, atol=1e-6, what=f"the term ({i}, {j}) for p={p}", mistakes=mistakes)
