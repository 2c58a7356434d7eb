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


@mutant(hint="the instances share their draws")
def same_pairs_for_all_instances(probability, batch_size, correlated=True):
    shape = (batch_size, *probability.shape)
    magnitude = torch.rand(*shape, 2)
    u = torch.rand(batch_size, 1, probability.shape[1])
    if correlated:
        on = u < probability
        present = torch.stack([on, on], -1)
    else:
        on = u < 2 * probability
        first = torch.rand(shape) < 0.5
        present = torch.stack([on & first, on & ~first], -1)
    return _pairs_to_features(magnitude * present)


@mutant(hint="the pairs of an instance share their draws")
def one_draw_per_instance(probability, batch_size, correlated=True):
    shape = (batch_size, *probability.shape)
    magnitude = torch.rand(*shape, 2)
    u = torch.rand(batch_size, probability.shape[0], 1)
    if correlated:
        on = u < probability
        present = torch.stack([on, on], -1)
    else:
        on = u < 2 * probability
        first = torch.rand(shape) < 0.5
        present = torch.stack([on & first, on & ~first], -1)
    return _pairs_to_features(magnitude * present)


@mutant(hint="half of the time")
def unfair_coin(probability, batch_size, correlated=True):
    shape = (batch_size, *probability.shape)
    magnitude = torch.rand(*shape, 2)
    if correlated:
        on = torch.rand(shape) < probability
        present = torch.stack([on, on], -1)
    else:
        on = torch.rand(shape) < 2 * probability
        first = torch.rand(shape) < probability  # should be a fair coin
        present = torch.stack([on & first, on & ~first], -1)
    return _pairs_to_features(magnitude * present)


@mutant(hint="same random number")
def magnitude_from_presence_draw(probability, batch_size, correlated=True):
    shape = (batch_size, *probability.shape)
    u = torch.rand(shape)
    if correlated:
        on = u < probability
        present = torch.stack([on, on], -1)
        magnitude = torch.stack([u, torch.rand(shape)], -1)
    else:
        on = u < 2 * probability
        first = torch.rand(shape) < 0.5
        present = torch.stack([on & first, on & ~first], -1)
        magnitude = torch.stack([u, u], -1)
    return _pairs_to_features(magnitude * present)


@mutant(hint="has shape")
def squeezed(probability, batch_size, correlated=True):
    shape = (batch_size, *probability.shape)
    magnitude = torch.rand(*shape, 2)
    on = torch.rand(shape) < probability
    if correlated:
        present = torch.stack([on, on], -1)
    else:
        on = torch.rand(shape) < 2 * probability
        first = torch.rand(shape) < 0.5
        present = torch.stack([on & first, on & ~first], -1)
    return _pairs_to_features(magnitude * present).squeeze()


@alternative
def one_draw_splits_the_pair(probability, batch_size, correlated=True):
    # Anticorrelated: a single uniform u picks the first feature when u < p and the second when
    # p <= u < 2p; that is the same distribution as "fires with 2p, then a fair coin".
    shape = (batch_size, *probability.shape)
    u = torch.rand(shape)
    if correlated:
        present = (u < probability).unsqueeze(-1).expand(*shape, 2)
    else:
        present = torch.stack([u < probability, (u >= probability) & (u < 2 * probability)], -1)
    return (torch.rand(*shape, 2) * present).flatten(-2)


@alternative
def loop_over_pairs(probability, batch_size, correlated=True):
    n_inst, n_pairs = probability.shape
    out = torch.zeros(batch_size, n_inst, 2 * n_pairs)
    for k in range(n_pairs):
        p = probability[:, k]
        if correlated:
            on = torch.rand(batch_size, n_inst) < p
            out[:, :, 2 * k] = torch.rand(batch_size, n_inst) * on
            out[:, :, 2 * k + 1] = torch.rand(batch_size, n_inst) * on
        else:
            on = torch.rand(batch_size, n_inst) < 2 * p
            which = torch.randint(0, 2, (batch_size, n_inst))
            out[:, :, 2 * k] = torch.rand(batch_size, n_inst) * (on & (which == 0))
            out[:, :, 2 * k + 1] = torch.rand(batch_size, n_inst) * (on & (which == 1))
    return out
