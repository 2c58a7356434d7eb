"""Grader for ch2.copying_score."""
import pytest
import torch
from transformer_lens import FactoredMatrix

from circuitlab.ch2.grading_support import full_ov_circuits, on_case
from circuitlab.grading.testing import expect_close, expect_python_float, reference, run_learner, seeded, submitted


def _rotation_plus_shift() -> FactoredMatrix:
    """A rank-3 map of R^6 with eigenvalues 1 +- 2i (a rotation-like pair) and -0.5."""
    block = torch.tensor([[1.0, -2.0, 0.0], [2.0, 1.0, 0.0], [0.0, 0.0, -0.5]])
    with seeded(4):
        basis = torch.linalg.qr(torch.randn(6, 3))[0]  # orthonormal columns
    return FactoredMatrix(basis @ block, basis.T)


def _cases() -> dict[str, FactoredMatrix]:
    with seeded(3):
        cases = {
            "a random 10 x 10 FactoredMatrix of rank 4": FactoredMatrix(torch.randn(10, 4), torch.randn(4, 10)),
            "a random 7 x 7 FactoredMatrix whose inner dimension (9) exceeds its size": FactoredMatrix(
                torch.randn(7, 9), torch.randn(9, 7)),
        }
    with seeded(5):
        a = torch.randn(8, 3)
    cases["-A @ A.T for a random 8 x 3 A (every eigenvalue negative: the score is -1)"] = FactoredMatrix(-a, a.T)
    cases["a 6 x 6 map with complex eigenvalues 1 +- 2i and a real one, -0.5"] = _rotation_plus_shift()
    cases.update(full_ov_circuits([("shipped", 1, 0), ("random", 2, 1), ("wide", 0, 3)]))
    return cases


CASES = list(_cases())


def _mistakes(matrix: FactoredMatrix) -> dict:
    eig = matrix.eigenvalues
    return {
        "You took the absolute value of the sum: the numerator is the plain sum of the eigenvalues, so a map "
        "that flips directions (negative eigenvalues) scores below 0.": (eig.sum().abs() / eig.abs().sum()).real,
        "You used only the real parts of the eigenvalues in the denominator; use their complex modulus, "
        "eig.abs(), so that rotations (complex pairs) lower the score.": (eig.sum() / eig.real.abs().sum()).real,
        "You used singular values: they are never negative, so every matrix would score 1. Use the eigenvalues "
        "(matrix.eigenvalues).": torch.tensor(1.0),
        "You divided by the number of eigenvalues: the score divides by the sum of their absolute values.":
            (eig.sum() / eig.numel()).real,
    }


@pytest.mark.parametrize("index", range(len(CASES)), ids=["random-10", "random-7-wide-inner", "negative",
                                                          "complex", "shipped-OV", "random-OV", "wide-OV"])
def test_matches_reference(index):
    """a Python float: sum of eigenvalues over the sum of their absolute values"""
    case = CASES[index]
    matrix = _cases()[case]
    with on_case(case), torch.no_grad():
        expected = torch.tensor(reference()(matrix))
        out = expect_python_float(run_learner(submitted(), matrix), what="your copying score")
        expect_close(torch.tensor(out), expected, atol=1e-4, rtol=1e-4, what="copying score",
                     mistakes=_mistakes(matrix),
                     hint="eig = matrix.eigenvalues; the score is (eig.sum() / eig.abs().sum()).real.")


def test_scale_does_not_matter():
    """the score of 3 * M equals the score of M (it divides by the size of the eigenvalues)"""
    with seeded(11):
        matrix = FactoredMatrix(torch.randn(9, 3), torch.randn(3, 9))
    with on_case("a random 9 x 9 FactoredMatrix of rank 3, and 3 times it"), torch.no_grad():
        plain = expect_python_float(run_learner(submitted(), matrix), what="your copying score of M")
        scaled = expect_python_float(run_learner(submitted(), matrix * 3.0), what="your copying score of 3 * M")
        expect_close(torch.tensor(scaled), torch.tensor(plain), atol=1e-4, rtol=1e-4, what="copying score of 3 * M",
                     hint="Normalise by the sum of the eigenvalues' absolute values, not by a count or a constant.")
