"""Mutants and alternatives for ch2.first_attn_detector."""
from einops import reduce

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="instead of column 0")
def row_zero(pattern):
    return pattern[:, :, 0, :].mean(dim=(0, -1))


@mutant(hint="last key column")
def last_column(pattern):
    return pattern[..., -1].mean(dim=(0, -1))


@mutant(hint="summed over query positions")
def summed(pattern):
    return pattern[..., 0].sum(-1).mean(0)


@mutant(hint="left out query 0")
def skips_query_zero(pattern):
    return pattern[:, :, 1:, 0].mean(dim=(0, -1))


@alternative
def with_einops(pattern):
    return reduce(pattern[:, :, :, 0], "b h q -> h", "mean")


@mutant(hint="first batch entry")
def first_batch_entry_only(pattern):
    return pattern[0, :, :, 0].mean(-1)


@mutant(hint="shape")
def squeezes_the_batch(pattern):
    return pattern.squeeze()[..., 0].mean(dim=(0, -1))


@alternative
def in_float64(pattern):
    return pattern[..., 0].double().mean(dim=(0, 2))
