"""Mutants and alternatives for ch2.top_singular_share."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _checked(matrix, k):
    if k < 0:
        raise ValueError(k)
    if float((matrix.S ** 2).sum()) == 0:
        raise ValueError("zero")


@mutant(hint="sum of their squares")
def not_squared(matrix, k):
    _checked(matrix, k)
    s = matrix.S
    return (s[:k].sum() / s.sum()).item()


@mutant(hint="k + 1")
def one_too_many(matrix, k):
    _checked(matrix, k)
    s2 = matrix.S ** 2
    return (s2[:k + 1].sum() / s2.sum()).item()


@mutant(hint="smallest")
def smallest_k(matrix, k):
    _checked(matrix, k)
    s2 = matrix.S ** 2
    return (s2[len(s2) - k:].sum() / s2.sum()).item() if k else 0.0


@mutant(hint="Python float")
def returns_a_tensor(matrix, k):
    _checked(matrix, k)
    s2 = matrix.S ** 2
    return s2[:k].sum() / s2.sum()


@mutant(hint="ValueError")
def negative_k_slices(matrix, k):
    s2 = matrix.S ** 2
    return (s2[:k].sum() / s2.sum()).item()


@mutant(hint="ValueError")
def zero_matrix_gives_nan(matrix, k):
    if k < 0:
        raise ValueError(k)
    s2 = matrix.S ** 2
    return (s2[:k].sum() / s2.sum()).item()


@alternative
def from_the_dense_matrix(matrix, k):
    """Builds the full matrix (wasteful for d_vocab x d_vocab circuits, but correct)."""
    _checked(matrix, k)
    s2 = torch.linalg.svdvals(matrix.AB) ** 2
    return float(s2[:k].sum() / s2.sum())
