"""Mutants and alternatives for ch0.split_heads."""
import torch
from einops import rearrange

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="(d_head n_heads)")
def reversed_split_order(x, n_heads):
    return rearrange(x, "b p (d h) -> b p h d", h=n_heads)


@mutant(hint="head axis before the position axis")
def heads_before_positions(x, n_heads):
    return rearrange(x, "b p (h d) -> b h p d", h=n_heads)


@mutant(hint="shape")
def plain_reshape_wrong_order(x, n_heads):
    batch, pos, width = x.shape
    return x.reshape(batch, n_heads, pos, width // n_heads)


@alternative
def with_view(x, n_heads):
    batch, pos, width = x.shape
    return x.view(batch, pos, n_heads, width // n_heads)


@mutant(hint="shape")
def hard_coded_head_size(x, n_heads):
    return rearrange(x, "b p (h d) -> b p h d", d=5)


@mutant(hint="shape")
def squeezed(x, n_heads):
    return rearrange(x, "b p (h d) -> b p h d", h=n_heads).squeeze()
