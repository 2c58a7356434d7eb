"""Mutants and alternatives for ch0.batched_matmul."""
import torch
from einops import einsum

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="contracted the wrong index")
def contracts_b_columns(a, b):
    return einsum(a, b, "batch i j, batch k j -> batch i k")


@mutant(hint="transposed")
def transposed_output(a, b):
    return einsum(a, b, "batch i j, batch j k -> batch k i")


@mutant(hint="shape")
def sums_over_batch(a, b):
    return einsum(a, b, "batch i j, batch j k -> i k")


@alternative
def with_matmul(a, b):
    return a @ b


@alternative
def with_bmm(a, b):
    return torch.bmm(a, b)


@mutant(hint="shape")
def squeezed(a, b):
    return (a @ b).squeeze()
