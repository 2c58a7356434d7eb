"""Mutants and alternatives for ch4.fourier_basis."""
import math

import numpy as np
import torch

from circuitlab.grading.meta import alternative, mutant


def _rows(p, swap=False):
    x = torch.arange(p, dtype=torch.float32)
    rows = [torch.ones(p)]
    for k in range(1, p // 2 + 1):
        pair = [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
        rows += pair[::-1] if swap else pair
    return torch.stack(rows)


@mutant(hint="not normalised")
def unnormalised(p):
    return _rows(p)


@mutant(hint="sin and cos swapped")
def sin_cos_swapped(p):
    basis = _rows(p, swap=True)
    return basis / basis.norm(dim=1, keepdim=True)


@mutant(hint="columns")
def transposed(p):
    basis = _rows(p)
    return (basis / basis.norm(dim=1, keepdim=True)).T


@mutant(hint="2πkx/p")
def forgot_two_pi(p):
    x = torch.arange(p, dtype=torch.float32)
    rows = [torch.ones(p)]
    for k in range(1, p // 2 + 1):
        rows += [torch.cos(math.pi * k * x / p), torch.sin(math.pi * k * x / p)]
    basis = torch.stack(rows)
    return basis / basis.norm(dim=1, keepdim=True)


@alternative
def analytic_normalisation(p):
    """Uses the known norms: sqrt(p) for the constant, sqrt(p/2) for each wave."""
    x = np.arange(p)
    rows = [np.ones(p) / np.sqrt(p)]
    for k in range(1, (p - 1) // 2 + 1):
        rows.append(np.cos(2 * np.pi * k * x / p) / np.sqrt(p / 2))
        rows.append(np.sin(2 * np.pi * k * x / p) / np.sqrt(p / 2))
    return torch.tensor(np.stack(rows), dtype=torch.float32)


@mutant(hint="has shape")
def misses_the_last_frequency(p):
    x = torch.arange(p, dtype=torch.float32)
    rows = [torch.ones(p)]
    for k in range(1, p // 2):
        rows += [torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)]
    basis = torch.stack(rows)
    return basis / basis.norm(dim=1, keepdim=True)


@alternative
def in_float64(p):
    """float64 throughout: the spec allows either floating dtype."""
    x = torch.arange(p, dtype=torch.float64)
    k = torch.arange(1, p // 2 + 1, dtype=torch.float64)[:, None]
    waves = torch.stack([torch.cos(2 * math.pi * k * x / p), torch.sin(2 * math.pi * k * x / p)], dim=1).reshape(-1, p)
    basis = torch.cat([torch.ones(1, p, dtype=torch.float64), waves])
    return basis / basis.norm(dim=1, keepdim=True)
