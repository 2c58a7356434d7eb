"""Mutants and alternatives for ch4.fft1d."""
import einops
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="inverse transform")
def inverse(x, basis):
    return torch.tensordot(basis.T, x, dims=([1], [0]))


@mutant(hint="divided by p")
def divided_by_p(x, basis):
    return torch.tensordot(basis, x, dims=([1], [0])) / basis.shape[0]


@mutant(hint="divided by sqrt(p)")
def divided_by_sqrt_p(x, basis):
    return torch.tensordot(basis, x, dims=([1], [0])) / basis.shape[0] ** 0.5


@mutant(hint="last axis")
def last_axis(x, basis):
    return x @ basis.T


@mutant(hint="has shape (7), expected (7, 1)")
def bare_squeeze(x, basis):
    # A habit from 2D code: squeeze "the extra axis" away, which also drops a trailing axis of length 1.
    return einops.einsum(basis, x, "component input, input ... -> component ...").squeeze()


@mutant(hint="on a (7, 2, 1, 3) float64 tensor (p=7) raised")
def plain_matmul(x, basis):
    # Right for vectors and matrices; with more axes matmul batches over the leading ones instead.
    return basis @ x


@mutant(hint="dtype")
def float32_only(x, basis):
    # Builds the output in the default dtype: fails on float64 input (the einsum mixes dtypes).
    out = torch.zeros(x.shape)
    out[:] = torch.tensordot(basis.float(), x, dims=([1], [0]))
    return out


@alternative
def with_matmul_and_reshape(x, basis):
    flat = x.reshape(x.shape[0], -1)
    return (basis @ flat).reshape(x.shape)


@alternative
def with_movedim(x, basis):
    return (x.movedim(0, -1) @ basis.T).movedim(-1, 0)
