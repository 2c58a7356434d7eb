"""Mutants and alternatives for ch4.fourier_2d_basis_term."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="outer product")
def as_a_sum(i, j, basis):
    return basis[i][:, None] + basis[j][None, :]


@mutant(hint="transposed")
def transposed(i, j, basis):
    return torch.outer(basis[j], basis[i])


@mutant(hint="columns")
def columns(i, j, basis):
    return torch.outer(basis[:, i], basis[:, j])


@alternative
def with_torch_outer(i, j, basis):
    return torch.outer(basis[i], basis[j])
