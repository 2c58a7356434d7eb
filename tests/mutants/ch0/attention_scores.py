"""Mutants and alternatives for ch0.attention_scores."""
import torch
from einops import einsum

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="forgot to divide by sqrt(d_head)")
def unscaled(q, k):
    return einsum(q, k, "b q h d, b k h d -> b h q k")


@mutant(hint="divided by d_head")
def scaled_by_d_head(q, k):
    return einsum(q, k, "b q h d, b k h d -> b h q k") / q.shape[-1]


@mutant(hint="Query and key positions are swapped")
def key_first(q, k):
    return einsum(q, k, "b q h d, b k h d -> b h k q") / q.shape[-1] ** 0.5


@mutant(hint="shape")
def heads_last(q, k):
    return einsum(q, k, "b q h d, b k h d -> b q k h") / q.shape[-1] ** 0.5


@alternative
def with_matmul(q, k):
    return (q.transpose(1, 2) @ k.transpose(1, 2).transpose(-1, -2)) / q.shape[-1] ** 0.5


@alternative
def with_torch_einsum(q, k):
    return torch.einsum("bqhd,bkhd->bhqk", q, k) / torch.tensor(q.shape[-1]).sqrt()


@mutant(hint="number of heads")
def scaled_by_the_head_count(q, k):
    return einsum(q, k, "b q h d, b k h d -> b h q k") / q.shape[2] ** 0.5


@mutant(hint="shape")
def assumes_square_scores(q, k):
    scores = torch.einsum("bqhd,bkhd->bhqk", q, k[:, : q.shape[1]])
    return scores / q.shape[-1] ** 0.5
