"""Mutants and alternatives for ch4.gini."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _rank_formula(x, descending=False, sort=True):
    n = x.shape[-1]
    x = x.double()
    if sort:
        x = x.sort(-1, descending=descending).values
    i = torch.arange(1, n + 1, dtype=torch.float64)
    total = x.sum(-1)
    return torch.where(total > 0, ((2 * i - n - 1) * x).sum(-1) / (n * total.clamp(min=1e-300)), 0.0)


@mutant(hint="did not sort")
def unsorted(x):
    return _rank_formula(x, sort=False)


@mutant(hint="sorted descending")
def descending(x):
    return _rank_formula(x, descending=True)


@mutant(hint="all zeros is nan")
def zero_over_zero(x):
    n = x.shape[-1]
    x = x.double().sort(-1).values
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return ((2 * i - n - 1) * x).sum(-1) / (n * x.sum(-1))


@mutant(hint="normalised by n - 1")
def normalised_to_one(x):
    n = x.shape[-1]
    return _rank_formula(x) * (n / (n - 1) if n > 1 else 1.0)


@mutant(hint="has shape ()")
def everything_at_once(x):
    return _rank_formula(x.flatten())


@alternative
def mean_absolute_difference(x):
    """Half the mean absolute difference over the mean, pair by pair."""
    x = x.float()
    mad = (x.unsqueeze(-1) - x.unsqueeze(-2)).abs().mean((-1, -2))
    mean = x.mean(-1)
    return torch.where(mean > 0, mad / (2 * mean.clamp(min=1e-30)), torch.zeros_like(mean))


@alternative
def from_the_lorenz_curve(x):
    """1 - 2 × (area under the Lorenz curve), with the trapezoid rule over n equal steps."""
    n = x.shape[-1]
    x = x.double().sort(-1).values
    total = x.sum(-1, keepdim=True)
    lorenz = x.cumsum(-1) / total.clamp(min=1e-300)
    area = (lorenz.sum(-1) - lorenz[..., -1] / 2) / n
    return torch.where(total[..., 0] > 0, 1 - 2 * area, torch.zeros_like(area))
