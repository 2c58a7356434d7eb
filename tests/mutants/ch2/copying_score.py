"""Mutants and alternatives for ch2.copying_score."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="absolute value of the sum")
def absolute_sum(matrix):
    eig = matrix.eigenvalues
    return (eig.sum().abs() / eig.abs().sum()).item()


@mutant(hint="only the real parts")
def real_parts_only(matrix):
    eig = matrix.eigenvalues
    return (eig.real.sum() / eig.real.abs().sum()).item()


@mutant(hint="singular values")
def singular_values(matrix):
    s = matrix.S
    return (s.sum() / s.abs().sum()).item()


@mutant(hint="Python float")
def returns_a_tensor(matrix):
    eig = matrix.eigenvalues
    return (eig.sum() / eig.abs().sum()).real


@alternative
def from_the_small_product(matrix):
    """The non-zero eigenvalues of A @ B are those of B @ A (mdim x mdim), computed by hand."""
    eig = torch.linalg.eigvals(matrix.B @ matrix.A)
    return float((eig.sum() / eig.abs().sum()).real)
