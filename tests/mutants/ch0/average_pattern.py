"""Mutants and alternatives for ch0.average_pattern."""
from einops import reduce

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="summed instead of averaging")
def summed(pattern):
    return reduce(pattern, "b h q k -> q k", "sum")


@mutant(hint="only batch and head disappear")
def averaged_over_queries(pattern):
    return pattern.mean(dim=(0, 2))


@mutant(hint="transposed")
def transposed(pattern):
    return pattern.mean(dim=(0, 1)).T


@alternative
def with_torch_mean(pattern):
    return pattern.mean(dim=(0, 1))


@mutant(hint="shape")
def squeezed(pattern):
    return pattern.mean(dim=(0, 1)).squeeze()


@mutant(hint="on a pattern of shape (3, 4, 5, 6) differs")
def first_sequence_only(pattern):
    return pattern[0].mean(0) if pattern.shape[0] > 1 else pattern.mean((0, 1))
