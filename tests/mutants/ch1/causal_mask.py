"""Mutants and alternatives for ch1.causal_mask."""
import torch

from circuitlab.grading.meta import alternative, mutant

IGNORE = -1e5


def _future(scores, diagonal=1):
    n = scores.shape[-1]
    return torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=diagonal)


@mutant(hint="off by one")
def hides_the_diagonal(scores):
    return scores.masked_fill(_future(scores, diagonal=0), IGNORE)


@mutant(hint="off by one")
def sees_the_next_token(scores):
    return scores.masked_fill(_future(scores, diagonal=2), IGNORE)


@mutant(hint="wrong axis")
def hides_the_past(scores):
    return scores.masked_fill(_future(scores).T, IGNORE)


@mutant(hint="0 instead of a large negative value")
def fills_zero(scores):
    return scores.masked_fill(_future(scores), 0.0)


@mutant(hint="in place")
def in_place(scores):
    scores.masked_fill_(_future(scores), IGNORE)
    return scores


@alternative
def with_minus_infinity(scores):
    return scores.masked_fill(_future(scores), float("-inf"))


@alternative
def adding_a_triangular_matrix(scores):
    return scores + IGNORE * _future(scores).float()


@alternative
def with_where_and_tril(scores):
    n = scores.shape[-1]
    allowed = torch.tril(torch.ones(n, n)).bool()
    return torch.where(allowed, scores, torch.tensor(IGNORE))


@mutant(hint="not negative enough")
def fills_minus_a_hundred(scores):
    return scores.masked_fill(_future(scores), -100.0)


@mutant(hint="torch.float64")
def returns_float32(scores):
    return scores.float().masked_fill(_future(scores), IGNORE)


@alternative
def with_the_smallest_float(scores):
    return scores.masked_fill(_future(scores), torch.finfo(scores.dtype).min)
