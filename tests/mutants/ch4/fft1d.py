"""Mutants and alternatives for ch4.fft1d."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="inverse transform")
def inverse(x, basis):
    return torch.tensordot(basis.T, x, dims=([1], [0]))


@mutant(hint="no extra normalisation")
def divided_by_p(x, basis):
    return torch.tensordot(basis, x, dims=([1], [0])) / basis.shape[0]


@mutant(hint="last axis")
def last_axis(x, basis):
    return x @ basis.T


@alternative
def with_matmul_and_reshape(x, basis):
    flat = x.reshape(x.shape[0], -1)
    return (basis @ flat).reshape(x.shape)
