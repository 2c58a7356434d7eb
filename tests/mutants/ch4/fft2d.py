"""Mutants and alternatives for ch4.fft2d."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="made by adding the 1D ones")
def sum_basis(x, basis):
    # Projects onto f(a, b) = basis[i](a) + basis[j](b) instead of the product.
    along_a = torch.einsum("ia,a...->i...", basis, x.sum(1))
    along_b = torch.einsum("jb,b...->j...", basis, x.sum(0))
    return along_a[:, None] + along_b[None, :]


@mutant(hint="swapped")
def axes_swapped(x, basis):
    return torch.einsum("jb,ib...->ji...", basis, torch.einsum("ia,ab...->ib...", basis, x))


@mutant(hint="only the first axis")
def only_a(x, basis):
    return torch.einsum("ia,ab...->ib...", basis, x)


@alternative
def one_axis_at_a_time(x, basis):
    along_a = torch.tensordot(basis, x, dims=([1], [0]))  # [i b ...]
    return torch.tensordot(basis, along_a, dims=([1], [1])).transpose(0, 1)  # [j i ...] -> [i j ...]
