"""Mutants and alternatives for ch4.trig_regression_fve."""
import math

import torch

from circuitlab.grading.meta import alternative, mutant


def _features(p, k, kind="nine", over_p=True):
    x = torch.arange(p, dtype=torch.float64)
    w = 2 * math.pi * k / (p if over_p else 1)
    ca, sa = torch.cos(w * x)[:, None].expand(p, p), torch.sin(w * x)[:, None].expand(p, p)
    cb, sb = ca.T, sa.T
    one = torch.ones(p, p, dtype=torch.float64)
    columns = {"nine": [one, ca, sa, cb, sb, ca * cb, ca * sb, sa * cb, sa * sb],
               "linear": [one, ca, sa, cb, sb],
               "no intercept": [ca, sa, cb, sb, ca * cb, ca * sb, sa * cb, sa * sb]}[kind]
    return torch.stack([c.flatten() for c in columns], 1)


def _fve(acts, freqs, kind="nine", centred=True, same=False, over_p=True):
    p, _, d_mlp = acts.shape
    out = []
    for n in range(d_mlp):
        X = _features(p, int(freqs[0] if same else freqs[n]), kind, over_p)
        y = acts[:, :, n].double().flatten()
        beta = torch.linalg.pinv(X) @ y
        rss = (y - X @ beta).pow(2).sum()
        tss = (y - y.mean()).pow(2).sum() if centred else y.pow(2).sum()
        out.append(1 - rss / tss if (y - y.mean()).pow(2).sum() > 0 else torch.tensor(float("nan")))
    return torch.stack(out).double()


@mutant(hint="four product terms")
def no_products(acts, freqs):
    return _fve(acts, freqs, kind="linear")


@mutant(hint="constant feature")
def no_intercept(acts, freqs):
    return _fve(acts, freqs, kind="no intercept")


@mutant(hint="about the neuron's mean")
def uncentred_total(acts, freqs):
    return _fve(acts, freqs, centred=False)


@mutant(hint="its own frequency")
def one_frequency_for_all(acts, freqs):
    return _fve(acts, freqs, same=True)


@mutant(hint="without dividing by p")
def angle_not_over_p(acts, freqs):
    return _fve(acts, freqs, over_p=False)


@mutant(hint="0-dim tensor")
def bare_squeeze(acts, freqs):
    return _fve(acts, freqs).squeeze()


@alternative
def nan_for_no_variance(acts, freqs):
    """pinv instead of lstsq, and NaN (0 / 0) for a neuron with no variance."""
    return _fve(acts, freqs)


@alternative
def by_orthogonal_projection(acts, freqs):
    """The nine features are orthogonal over the grid, so the fit is nine projections; float32 throughout."""
    p, _, d_mlp = acts.shape
    out = torch.zeros(d_mlp)
    for n in range(d_mlp):
        X = _features(p, int(freqs[n])).float()
        X = X / X.norm(dim=0)
        y = acts[:, :, n].float().flatten()
        fitted = X @ (X.T @ y)
        tss = (y - y.mean()).pow(2).sum()
        out[n] = 1 - (y - fitted).pow(2).sum() / tss if tss > 1e-12 else 0.0
    return out
