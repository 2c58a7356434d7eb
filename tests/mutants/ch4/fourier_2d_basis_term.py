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


@mutant(hint="entry by entry")
def elementwise(i, j, basis):
    return basis[i] * basis[j]


@mutant(hint="has shape (113, 113), expected (5, 5)")
def size_hard_coded(i, j, basis):
    # The chapter's p written in: right for p = 113 only.
    grid = torch.zeros(113, 113, dtype=basis.dtype)
    grid[: basis.shape[0], : basis.shape[0]] = torch.outer(basis[i], basis[j])
    return grid


@alternative
def with_torch_outer(i, j, basis):
    return torch.outer(basis[i], basis[j])


@alternative
def with_a_loop(i, j, basis):
    p = basis.shape[0]
    grid = torch.zeros(p, p)  # float32 whatever the basis: a float32 answer is fine
    for a in range(p):
        for b in range(p):
            grid[a, b] = basis[i, a] * basis[j, b]
    return grid
