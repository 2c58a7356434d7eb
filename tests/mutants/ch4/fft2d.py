"""Mutants and alternatives for ch4.fft2d."""
import einops
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


@mutant(hint="has shape (7, 7), expected (7, 7, 1)")
def bare_squeeze(x, basis):
    along_a = einops.einsum(basis, x, "i a, a b ... -> i b ...")
    return einops.einsum(basis, along_a, "j b, i b ... -> i j ...").squeeze()


@mutant(hint="on a (7, 7, 1) float32 tensor (p=7) raised")
def matrix_sandwich(x, basis):
    # basis @ x @ basis.T is right for one grid; with a batch axis matmul treats x as a stack of matrices.
    return basis @ x @ basis.T


@alternative
def one_axis_at_a_time(x, basis):
    along_a = torch.tensordot(basis, x, dims=([1], [0]))  # [i b ...]
    return torch.tensordot(basis, along_a, dims=([1], [1])).transpose(0, 1)  # [j i ...] -> [i j ...]


@alternative
def with_the_1d_transform_twice(x, basis):
    def along_first(y):
        return (basis @ y.reshape(y.shape[0], -1)).reshape(y.shape)
    return along_first(along_first(x).transpose(0, 1)).transpose(0, 1)
