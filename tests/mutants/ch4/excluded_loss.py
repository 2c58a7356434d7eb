"""Mutants and alternatives for ch4.excluded_loss."""
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


def _remove(logits, d):
    logits = logits.double()
    return logits - d.T @ (d @ logits)


@mutant(hint="wrong frequencies")
def excludes_the_wrong_frequencies(logits, labels, freqs, train_indices):
    d = _directions(logits.shape[-1], torch.as_tensor(freqs) + 1)
    return _ce(_remove(logits, d)[train_indices], labels[train_indices])


@mutant(hint="training pairs only")
def on_every_pair(logits, labels, freqs, train_indices):
    d = _directions(logits.shape[-1], freqs)
    return _ce(_remove(logits, d), labels)


@mutant(hint="remove sin")
def cos_only(logits, labels, freqs, train_indices):
    d = _directions(logits.shape[-1], freqs, sin=False)
    return _ce(_remove(logits, d)[train_indices], labels[train_indices])


@mutant(hint="not unit vectors")
def unnormalised(logits, labels, freqs, train_indices):
    d = _directions(logits.shape[-1], freqs, normalise=False)
    return _ce(_remove(logits, d)[train_indices], labels[train_indices])


@alternative
def with_gram_schmidt_free_lstsq(logits, labels, freqs, train_indices):
    """Removes the components by least squares instead of an explicit projection."""
    p = logits.shape[-1]
    a = torch.arange(p).repeat_interleave(p).double()
    b = torch.arange(p).repeat(p).double()
    ang = 2 * math.pi * torch.as_tensor(freqs).double()[None, :] * (a + b)[:, None] / p
    design = torch.cat([torch.cos(ang), torch.sin(ang)], dim=1)  # [pairs 2k]
    coefficients = torch.linalg.lstsq(design, logits.double()).solution
    remaining = logits.double() - design @ coefficients
    return _ce(remaining[train_indices], labels[train_indices])


@mutant(hint="float32")
def in_float32(logits, labels, freqs, train_indices):
    d = _directions(logits.shape[-1], freqs).float()
    logits = logits.float()
    return _ce((logits - d.T @ (d @ logits))[train_indices], labels[train_indices])


@mutant(hint="Python float")
def returns_a_python_float(logits, labels, freqs, train_indices):
    return excluded_reference(logits, labels, freqs, train_indices).item()


def excluded_reference(logits, labels, freqs, train_indices):
    from circuitlab.ch4 import reference

    return reference.excluded_loss(logits, labels, freqs, train_indices)
