"""Mutants and alternatives for ch2.current_attn_detector."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="Wrong diagonal offset")
def previous_diagonal(pattern):
    return pattern.diagonal(offset=-1, dim1=-2, dim2=-1).mean(dim=(0, -1))


@mutant(hint="summed along the diagonal")
def summed(pattern):
    return pattern.diagonal(dim1=-2, dim2=-1).sum(-1).mean(0)


@mutant(hint="shape")
def averaged_over_heads_too(pattern):
    return pattern.diagonal(dim1=-2, dim2=-1).mean()


@mutant(hint="averaged over the key axis")
def mean_of_masked_matrix(pattern):
    eye = torch.eye(pattern.shape[-1])
    return (pattern * eye).mean(dim=(0, -2, -1))


@alternative
def with_an_identity_mask(pattern):
    seq = pattern.shape[-1]
    return (pattern * torch.eye(seq)).sum(dim=(-2, -1)).mean(0) / seq


@mutant(hint="left out position 0")
def skips_position_zero(pattern):
    return pattern.diagonal(dim1=-2, dim2=-1)[..., 1:].mean(dim=(0, -1))


@mutant(hint="first batch entry")
def first_batch_entry_only(pattern):
    return pattern[0].diagonal(dim1=-2, dim2=-1).mean(-1)


@mutant(hint="shape")
def squeezes_the_batch(pattern):
    # .squeeze() also drops a batch (or head) axis of size 1: the mean then runs over the wrong axes.
    return pattern.squeeze().diagonal(dim1=-2, dim2=-1).mean(dim=(0, -1))


@alternative
def with_einsum_trace(pattern):
    batch, _, seq, _ = pattern.shape
    return torch.einsum("bhii->h", pattern) / (batch * seq)
