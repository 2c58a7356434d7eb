"""Grader for ch2.top_singular_share."""
import pytest
import torch
from transformer_lens import FactoredMatrix

from circuitlab.ch2.grading_support import full_ov_circuits, on_case
from circuitlab.grading.testing import (GradingFailure, NotAttempted, expect, expect_close, expect_python_float,
                                        reference, run_learner, seeded, submitted)


def _known_spectrum() -> FactoredMatrix:
    """An 8 x 5 map with singular values exactly 3, 2 and 1 (orthonormal factors around a diagonal)."""
    with seeded(21):
        left = torch.linalg.qr(torch.randn(8, 3))[0]
        right = torch.linalg.qr(torch.randn(5, 3))[0]
    return FactoredMatrix(left @ torch.diag(torch.tensor([3.0, 2.0, 1.0])), right.T)


def _matrices() -> dict[str, FactoredMatrix]:
    with seeded(3):
        cases = {
            "a random 10 x 10 FactoredMatrix of rank 4": FactoredMatrix(torch.randn(10, 4), torch.randn(4, 10)),
            "a random non-square 9 x 6 FactoredMatrix of rank 3": FactoredMatrix(torch.randn(9, 3), torch.randn(3, 6)),
            "a random 7 x 7 FactoredMatrix whose inner dimension (9) exceeds its size": FactoredMatrix(
                torch.randn(7, 9), torch.randn(9, 7)),
        }
    cases["an 8 x 5 map with singular values 3, 2 and 1 (k=1 gives 9/14)"] = _known_spectrum()
    cases.update(full_ov_circuits([("shipped", 0, 1), ("random", 2, 1), ("wide", 1, 3)]))
    return cases


MATRICES = list(_matrices())
IDS = ["random-10", "non-square", "wide-inner", "known-spectrum", "shipped-OV", "random-OV", "wide-OV"]


def _mistakes(matrix: FactoredMatrix, k: int) -> dict:
    s = matrix.S
    squared = s ** 2
    return {
        "You summed the singular values themselves: the squared Frobenius norm is the sum of their squares, "
        "so square them first.": s[:k].sum() / s.sum(),
        f"You kept k + 1 singular values: the top k of them are S[:k] (for k={k}).": squared[:k + 1].sum() / squared.sum(),
        "You took the k smallest singular values: matrix.S is sorted largest first, so the top k are S[:k].":
            squared[len(squared) - k:].sum() / squared.sum() if k else torch.tensor(0.0),
    }


def _k_values(matrix: FactoredMatrix) -> list[int]:
    n = len(matrix.S)
    return [0, 1, 2, n, n + 3]


@pytest.mark.parametrize("index", range(len(MATRICES)), ids=IDS)
def test_matches_reference(index):
    """a Python float for k = 0, 1, 2, the number of singular values, and more than that"""
    case = MATRICES[index]
    matrix = _matrices()[case]
    for k in _k_values(matrix):
        with on_case(f"{case}, k={k}"), torch.no_grad():
            expected = torch.tensor(reference()(matrix, k))
            out = expect_python_float(run_learner(submitted(), matrix, k), what="your share")
            expect_close(torch.tensor(out), expected, atol=1e-5, rtol=1e-4, what=f"the share for k={k}",
                         mistakes=_mistakes(matrix, k),
                         hint="s2 = matrix.S ** 2 (largest first); the share is s2[:k].sum() / s2.sum().")


def test_scale_does_not_matter():
    """the share of 5 * M equals the share of M"""
    matrix = _matrices()[MATRICES[0]]
    with on_case(f"{MATRICES[0]}, and 5 times it, k=2"), torch.no_grad():
        plain = expect_python_float(run_learner(submitted(), matrix, 2), what="your share for M")
        scaled = expect_python_float(run_learner(submitted(), matrix * 5.0, 2), what="your share for 5 * M")
        expect_close(torch.tensor(scaled), torch.tensor(plain), atol=1e-5, rtol=1e-4, what="the share for 5 * M",
                     hint="Divide by the total squared norm, so that the scale cancels.")


def _expect_value_error(matrix: FactoredMatrix, k: int, case: str, why: str) -> None:
    with on_case(case), torch.no_grad():
        try:
            run_learner(submitted(), matrix, k)
        except NotAttempted:
            raise
        except GradingFailure as failure:
            expect("raised ValueError" in str(failure), f"{why} should raise ValueError; instead: {failure}")
        else:
            raise GradingFailure(f"{why}: your function returned a value; the spec says it raises ValueError.")


def test_negative_k_raises_value_error():
    """k = -1 raises ValueError (a negative slice would quietly drop the last singular value)"""
    _expect_value_error(_matrices()[MATRICES[0]], -1, f"{MATRICES[0]}, k=-1", "k=-1")


def test_zero_matrix_raises_value_error():
    """a matrix whose singular values are all zero raises ValueError"""
    zero = FactoredMatrix(torch.zeros(6, 2), torch.zeros(2, 6))
    _expect_value_error(zero, 1, "a 6 x 6 FactoredMatrix with zero factors, k=1", "The zero matrix")
