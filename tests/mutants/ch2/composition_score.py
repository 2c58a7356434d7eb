"""Mutants and alternatives for ch2.composition_score."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="did not normalise")
def unnormalised(write, read):
    return (write @ read).norm().item()


@mutant(hint="only one of the two norms")
def one_norm(write, read):
    return ((write @ read).norm() / write.norm()).item()


@mutant(hint="wrong order")
def reversed_product(write, read):
    return ((read @ write).norm() / (write.norm() * read.norm())).item()


@alternative
def with_dense_matrices(write, read):
    a, b = write.AB, read.AB
    return (torch.linalg.matrix_norm(a @ b) / (torch.linalg.matrix_norm(a) * torch.linalg.matrix_norm(b))).item()


@mutant(hint="Python float")
def returns_a_tensor(write, read):
    return (write @ read).norm() / (write.norm() * read.norm())


@mutant(hint="squared the norms")
def squared_norms(write, read):
    return ((write @ read).norm() ** 2 / (write.norm() ** 2 * read.norm() ** 2)).item()


@alternative
def from_singular_values(write, read):
    """||M||_F is the root of the sum of squared singular values: FactoredMatrix.S holds them."""
    frobenius = lambda m: float(m.S.pow(2).sum().sqrt())
    return frobenius(write @ read) / (frobenius(write) * frobenius(read))
