"""Mutants and alternatives for ch2.prev_attn_detector."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="Wrong diagonal offset")
def offset_plus_one(pattern):
    return pattern.diagonal(offset=1, dim1=-2, dim2=-1).mean(dim=(0, -1))


@mutant(hint="Wrong diagonal offset")
def current_token(pattern):
    return pattern.diagonal(offset=0, dim1=-2, dim2=-1).mean(dim=(0, -1))


@mutant(hint="counting query 0")
def divides_by_seq(pattern):
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).sum(-1).mean(0) / pattern.shape[-1]


@mutant(hint="Wrong diagonal offset")
def two_back(pattern):
    return pattern.diagonal(offset=-2, dim1=-2, dim2=-1).mean(dim=(0, -1))


@alternative
def with_index_arrays(pattern):
    seq = pattern.shape[-1]
    queries = torch.arange(1, seq)
    return pattern[:, :, queries, queries - 1].mean(dim=(0, 2))


@mutant(hint="first batch entry")
def first_batch_entry_only(pattern):
    return pattern[0].diagonal(offset=-1, dim1=-2, dim2=-1).mean(-1)


@mutant(hint="shape")
def squeezes_the_batch(pattern):
    return pattern.squeeze().diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, -1))


@alternative
def with_a_shifted_identity(pattern):
    batch, _, seq, _ = pattern.shape
    below = torch.diag(torch.ones(seq - 1), diagonal=-1)
    return (pattern * below).sum(dim=(0, -2, -1)) / (batch * (seq - 1))
