"""Mutants and alternatives for ch0.log_softmax."""
import torch
from einops import reduce

from circuitlab.grading.meta import alternative, mutant


def _stable_total(x, dim):
    """logsumexp over dim, kept as a size-1 axis; 0 as the shift for a slice of only -inf."""
    m = x.amax(dim=dim, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return (x - m).exp().sum(dim, keepdim=True).log() + m


@mutant(hint="overflowed to inf")
def minus_log_of_sum(x, dim=-1):
    return x - x.exp().sum(dim, keepdim=True).log()


@mutant(hint="inf / inf or 0 / 0")
def softmax_as_it_reads_then_log(x, dim=-1):
    return (x.exp() / x.exp().sum(dim, keepdim=True)).log()


@mutant(hint="log of the softmax")
def stable_softmax_then_log(x, dim=-1):
    return torch.softmax(x, dim).log()


@mutant(hint="max of the whole tensor")
def global_max(x, dim=-1):
    m = x.max()
    return x - ((x - m).exp().sum(dim, keepdim=True).log() + m)


@mutant(hint="use the dim argument")
def last_axis_always(x, dim=-1):
    return x - _stable_total(x, -1)


@mutant(hint="log of the mean")
def mean_not_sum(x, dim=-1):
    m = x.amax(dim=dim, keepdim=True)
    return x - ((x - m).exp().mean(dim, keepdim=True).log() + m)


@mutant(hint="sign is flipped")
def flipped(x, dim=-1):
    return _stable_total(x, dim) - x


@mutant(hint="returned the softmax itself")
def softmax_not_log(x, dim=-1):
    return (x - _stable_total(x, dim)).exp()


@mutant(hint="Put the reduced axis back")
def forgets_to_unsqueeze(x, dim=-1):
    return x - _stable_total(x, dim).squeeze(dim)


@mutant(hint="has dtype torch.float32")
def float32_always(x, dim=-1):
    x = x.float()
    return x - _stable_total(x, dim)


@mutant(hint="dim defaults to -1")
def dim_defaults_to_zero(x, dim=0):
    return x - _stable_total(x, dim)


@mutant(hint="detached")
def detached(x, dim=-1):
    return (x - _stable_total(x, dim)).detach()


@mutant(hint="modified its input in place")
def subtracts_in_place(x, dim=-1):
    return x.sub_(_stable_total(x, dim))


@mutant(hint="gradient")
def detaches_only_the_normaliser(x, dim=-1):
    # Right values, but the normaliser's gradient (minus the softmax) is lost.
    return x - _stable_total(x, dim).detach()


@alternative
def with_logsumexp_of_torch(x, dim=-1):
    return x - torch.logsumexp(x, dim, keepdim=True)


@alternative
def shift_then_normalise(x, dim=-1):
    m = x.amax(dim=dim, keepdim=True).detach()
    shifted = x - torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return shifted - shifted.exp().sum(dim=dim, keepdim=True).log()


@alternative
def with_einops_on_the_last_axis(x, dim=-1):
    moved = x.movedim(dim, -1)
    m = reduce(moved, "... n -> ... 1", "max")
    total = reduce((moved - m).exp(), "... n -> ... 1", "sum").log() + m
    return (moved - total).movedim(-1, dim)
