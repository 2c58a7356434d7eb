"""Mutants and alternatives for ch5.correlated_batch."""
import einops
import torch

from circuitlab.grading.meta import alternative, mutant


def _pairs_to_features(x):
    return einops.rearrange(x, "b i p two -> b i (p two)")


@mutant(hint="half as often")
def anticorrelated_pair_rate_p(probability, batch_size, correlated=True):
    shape = (batch_size, *probability.shape)
    magnitude = torch.rand(*shape, 2)
    on = torch.rand(shape) < probability  # for anticorrelated pairs this should be 2p
    if correlated:
        present = torch.stack([on, on], -1)
    else:
        first = torch.rand(shape) < 0.5
        present = torch.stack([on & first, on & ~first], -1)
    return _pairs_to_features(magnitude * present)


@mutant(hint="never be present together")
def anticorrelated_independent(probability, batch_size, correlated=True):
    shape = (batch_size, *probability.shape)
    magnitude = torch.rand(*shape, 2)
    if correlated:
        on = torch.rand(shape) < probability
        present = torch.stack([on, on], -1)
    else:
        present = torch.rand(*shape, 2) < probability[..., None]
    return _pairs_to_features(magnitude * present)


@mutant(hint="share their magnitude")
def shared_magnitude(probability, batch_size, correlated=True):
    shape = (batch_size, *probability.shape)
    magnitude = torch.rand(*shape, 1).expand(*shape, 2)
    if correlated:
        on = torch.rand(shape) < probability
        present = torch.stack([on, on], -1)
    else:
        on = torch.rand(shape) < 2 * probability
        first = torch.rand(shape) < 0.5
        present = torch.stack([on & first, on & ~first], -1)
    return _pairs_to_features(magnitude * present)


@mutant(hint="adjacent features")
def pairs_not_adjacent(probability, batch_size, correlated=True):
    shape = (batch_size, *probability.shape)
    magnitude = torch.rand(*shape, 2)
    if correlated:
        on = torch.rand(shape) < probability
        present = torch.stack([on, on], -1)
    else:
        on = torch.rand(shape) < 2 * probability
        first = torch.rand(shape) < 0.5
        present = torch.stack([on & first, on & ~first], -1)
    return einops.rearrange(magnitude * present, "b i p two -> b i (two p)")


@alternative
def with_choice_index(probability, batch_size, correlated=True):
    batch_shape = (batch_size, *probability.shape)
    values = torch.rand(*batch_shape, 2)
    if correlated:
        mask = (torch.rand(batch_shape) < probability).unsqueeze(-1).expand(*batch_shape, 2)
    else:
        fires = torch.rand(batch_shape) < 2 * probability
        which = torch.randint(0, 2, batch_shape)
        mask = torch.nn.functional.one_hot(which, 2).bool() & fires.unsqueeze(-1)
    return (values * mask).flatten(-2)
