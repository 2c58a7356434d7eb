"""Mutants and alternatives for ch4.restricted_loss."""
import math

import torch

from circuitlab.grading.meta import alternative, mutant


def _directions(p, freqs, of_sum=True, normalise=True, sin=True):
    a = torch.arange(p).repeat_interleave(p).double()
    b = torch.arange(p).repeat(p).double()
    x = a + b if of_sum else a
    ang = 2 * math.pi * torch.as_tensor(freqs).double()[:, None] * x / p
    d = torch.cat([torch.cos(ang), torch.sin(ang)]) if sin else torch.cos(ang)
    return d / d.norm(dim=1, keepdim=True) if normalise else d


def _ce(logits, labels):
    return torch.nn.functional.cross_entropy(logits, labels)


@mutant(hint="mean over the pairs")
def forgets_the_mean(logits, labels, freqs):
    d = _directions(logits.shape[-1], freqs)
    return _ce(d.T @ (d @ logits.double()), labels)


@mutant(hint="keep sin")
def cos_only(logits, labels, freqs):
    d = _directions(logits.shape[-1], freqs, sin=False)
    logits = logits.double()
    return _ce(logits.mean(0) + d.T @ (d @ logits), labels)


@mutant(hint="not unit vectors")
def unnormalised(logits, labels, freqs):
    d = _directions(logits.shape[-1], freqs, normalise=False)
    logits = logits.double()
    return _ce(logits.mean(0) + d.T @ (d @ logits), labels)


@mutant(hint="waves in a + b")
def waves_in_a(logits, labels, freqs):
    d = _directions(logits.shape[-1], freqs, of_sum=False)
    logits = logits.double()
    return _ce(logits.mean(0) + d.T @ (d @ logits), labels)


@alternative
def via_the_2d_fourier_transform(logits, labels, freqs):
    """Keeps the 2D Fourier terms that make up cos/sin(w(a+b)) and the constant, by projecting on a grid."""
    p = logits.shape[-1]
    grid = logits.double().reshape(p, p, p)  # [a b c]
    x = torch.arange(p).double()
    kept = grid.mean((0, 1), keepdim=True).expand(p, p, p).clone()
    for k in torch.as_tensor(freqs).tolist():
        for wave in (torch.cos, torch.sin):
            direction = wave(2 * math.pi * k * (x[:, None] + x[None, :]) / p)
            direction = direction / direction.norm()
            kept += direction[:, :, None] * torch.einsum("ab,abc->c", direction, grid)
    return _ce(kept.reshape(p * p, p), labels)


@mutant(hint="float32")
def in_float32(logits, labels, freqs):
    d = _directions(logits.shape[-1], freqs).float()
    logits = logits.float()
    return _ce(logits.mean(0) + d.T @ (d @ logits), labels)


@mutant(hint="Python float")
def returns_a_python_float(logits, labels, freqs):
    return restricted_reference(logits, labels, freqs).item()


def restricted_reference(logits, labels, freqs):
    from circuitlab.ch4 import reference

    return reference.restricted_loss(logits, labels, freqs)
