"""Mutants and alternatives for ch2.ablate_head_hook."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="ablated every head")
def all_heads(z, hook, head, replacement=None):
    z[:] = 0.0
    return z


@mutant(hint="wrong axis")
def position_axis(z, hook, head, replacement=None):
    z[:, head] = 0.0 if replacement is None else replacement[head]
    return z


@mutant(hint="left z unchanged")
def out_of_place_without_return(z, hook, head, replacement=None):
    z = z.clone()
    z[:, :, head] = 0.0 if replacement is None else replacement
    # forgot: return z


@mutant(hint="zeroed the head even though a replacement was given")
def ignores_replacement(z, hook, head, replacement=None):
    z[:, :, head] = 0.0
    return z


@alternative
def in_place_returning_none(z, hook, head, replacement=None):
    z[:, :, head, :] = 0.0 if replacement is None else replacement
    return None


@alternative
def with_a_mask(z, hook, head, replacement=None):
    mask = z.new_zeros(z.shape[2])
    mask[head] = 1.0
    mask = mask[None, None, :, None]
    filler = 0.0 if replacement is None else replacement[None, :, None, :]
    return z * (1 - mask) + filler * mask


@mutant(hint="shape")
def squeezes(z, hook, head, replacement=None):
    z = z.squeeze().clone()  # drops a batch (or position) axis of size 1
    z[..., head, :] = 0.0 if replacement is None else replacement
    return z


@alternative
def reads_the_hook_name(z, hook, head, replacement=None):
    assert hook.name.startswith(f"blocks.{hook.layer()}."), hook.name
    z = z.clone()
    z[:, :, head] = 0.0 if replacement is None else replacement
    return z


@alternative
def with_index_put(z, hook, head, replacement=None):
    filler = torch.zeros_like(z[:, :, head]) if replacement is None else replacement.expand_as(z[:, :, head])
    return z.index_copy(2, torch.tensor([head]), filler[:, :, None])
