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
