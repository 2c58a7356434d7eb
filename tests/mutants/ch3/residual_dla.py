"""Mutants and alternatives for ch3.residual_dla."""
import einops
import torch

from circuitlab.grading.meta import alternative, mutant


def _scale(cache, end_pos):
    return cache["ln_final.hook_scale"][torch.arange(end_pos.shape[0]), end_pos]


@mutant(hint="did not divide by the final LayerNorm scale")
def no_scale(stack, cache, end_pos, directions):
    return einops.einsum(stack, directions, "c b d, b d -> c b").mean(-1)


@mutant(hint="position -1")
def scale_at_last_position(stack, cache, end_pos, directions):
    return einops.einsum(stack / cache["ln_final.hook_scale"][:, -1], directions, "c b d, b d -> c b").mean(-1)


@mutant(hint="summed over the batch")
def summed(stack, cache, end_pos, directions):
    return einops.einsum(stack / _scale(cache, end_pos), directions, "c b d, b d -> c b").sum(-1)


@mutant(hint="multiplied by the LayerNorm scale")
def multiplied(stack, cache, end_pos, directions):
    return einops.einsum(stack * _scale(cache, end_pos), directions, "c b d, b d -> c b").mean(-1)


@alternative
def without_centring(stack, cache, end_pos, directions):
    # In compatibility mode every write to the residual stream is already centred, so centring is optional.
    return ((stack / _scale(cache, end_pos)) * directions).sum(-1).mean(-1)


@mutant(hint="position -1")
def squeezed_scale_at_the_end(stack, cache, end_pos, directions):
    # Takes the scale at the last position and squeezes it: wrong for every prompt shorter than the batch.
    scale = cache["ln_final.hook_scale"][:, -1].squeeze()
    return (stack / scale.reshape(-1, 1)).mul(directions).sum(-1).mean(-1)


@mutant(hint="direct logit attribution")
def centred_over_the_batch(stack, cache, end_pos, directions):
    centred = stack - stack.mean(dim=1, keepdim=True)  # the wrong axis: LayerNorm centres over d_model
    return einops.einsum(centred / _scale(cache, end_pos), directions, "c b d, b d -> c b").mean(-1)


@alternative
def with_explicit_centring(stack, cache, end_pos, directions):
    centred = stack - stack.mean(-1, keepdim=True)
    return einops.einsum(centred / _scale(cache, end_pos), directions, "c b d, b d -> c").div(stack.shape[1])
