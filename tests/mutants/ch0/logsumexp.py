"""Mutants and alternatives for ch0.logsumexp."""
import math

import torch
from einops import reduce

from circuitlab.grading.meta import alternative, mutant


def _finite_max(x, dim):
    biggest = x.amax(dim=dim, keepdim=True)
    return torch.where(torch.isfinite(biggest), biggest, torch.zeros_like(biggest))


@mutant(hint="overflowed to inf")
def as_it_reads(x, dim):
    return x.exp().sum(dim).log()


@mutant(hint="max of the whole tensor")
def global_max(x, dim):
    biggest = x.max()
    return (x - biggest).exp().sum(dim).log() + biggest


@mutant(hint="did not add it back")
def forgets_to_add_back(x, dim):
    return (x - _finite_max(x, dim)).exp().sum(dim).log()


@mutant(hint="You returned the max")
def hard_max(x, dim):
    return x.amax(dim)


@mutant(hint="averaged the exponentials")
def mean_not_sum(x, dim):
    m = _finite_max(x, dim)
    return (x - m).exp().mean(dim).log() + m.squeeze(dim)


@mutant(hint="a slice whose entries are all -inf")
def nan_on_masked_rows(x, dim):
    m = x.amax(dim=dim, keepdim=True)
    return (x - m).exp().sum(dim).log() + m.squeeze(dim)


@mutant(hint="use the dim argument")
def last_axis_always(x, dim):
    m = _finite_max(x, -1)
    return (x - m).exp().sum(-1).log() + m.squeeze(-1)


@mutant(hint="keepdim=False")
def keeps_the_axis(x, dim):
    m = _finite_max(x, dim)
    return (x - m).exp().sum(dim, keepdim=True).log() + m


@mutant(hint="bare .squeeze()")
def bare_squeeze(x, dim):
    m = _finite_max(x, dim)
    return ((x - m).exp().sum(dim, keepdim=True).log() + m).squeeze()


@mutant(hint="has dtype torch.float32")
def float32_always(x, dim):
    x = x.float()
    m = _finite_max(x, dim)
    return (x - m).exp().sum(dim).log() + m.squeeze(dim)


@mutant(hint="detached")
def detached_max_and_sum(x, dim):
    with torch.no_grad():
        m = _finite_max(x, dim)
        return (x - m).exp().sum(dim).log() + m.squeeze(dim)


@mutant(hint="modified its input in place")
def shifts_in_place(x, dim):
    m = _finite_max(x, dim)
    x -= m
    return x.exp().sum(dim).log() + m.squeeze(dim)


@mutant(hint="gradient")
def clamps_the_exponent(x, dim):
    # Clamping keeps exp finite, but the gradient of clamp is 0 below the bound: wrong softmax there.
    m = _finite_max(x, dim)
    return (x - m).clamp(min=-3.0).exp().sum(dim).log() + m.squeeze(dim)


@alternative
def with_max_values(x, dim):
    m = x.max(dim=dim, keepdim=True).values.detach()
    m = m.masked_fill(torch.isinf(m), 0.0)
    return m.squeeze(dim) + torch.log(torch.sum(torch.exp(x - m), dim=dim))


@alternative
def with_einops(x, dim):
    moved = x.movedim(dim, -1)
    m = _finite_max(moved, -1)
    total = reduce((moved - m).exp(), "... n -> ...", "sum")
    return total.log() + m[..., 0]


@alternative
def with_log1p(x, dim):
    # m + log(1 + sum of the others): exact at ties too, since each term is exp(x - m) <= 1.
    m = _finite_max(x, dim)
    return m.squeeze(dim) + torch.log1p((x - m).exp().sum(dim) - 1)


@alternative
def pairwise_logaddexp(x, dim):
    moved = x.movedim(dim, 0)
    out = moved[0]
    for row in moved[1:]:
        out = torch.logaddexp(out, row)
    return out.clone()


@alternative
def with_math_log_of_sum(x, dim):
    m = _finite_max(x, dim)
    s = (x - m).exp().sum(dim)
    return torch.log(s) + m.squeeze(dim) + 0.0 * math.pi
