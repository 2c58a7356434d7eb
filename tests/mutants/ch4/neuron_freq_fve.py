"""Mutants and alternatives for ch4.neuron_freq_fve."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _power(acts, basis):
    return torch.einsum("jb,ib...->ij...", basis, torch.einsum("ia,ab...->ib...", basis, acts)).pow(2)


def _fve(acts, basis, quadratic=True, drop_mean=True, shift=1):
    p = basis.shape[0]
    power = _power(acts, basis)
    if drop_mean:
        power[0, 0] = 0
    scores = []
    for k in range(1, p // 2 + 1):
        idx = torch.tensor([0, 2 * k - 1, 2 * k])
        block = power[idx][:, idx].sum((0, 1))
        if not quadratic:
            block = block - power[idx[1:]][:, idx[1:]].sum((0, 1))
        scores.append(block)
    fve = torch.stack(scores) / power.sum((0, 1))
    best, index = fve.max(0)
    return index + shift, best


@mutant(hint="product terms")
def linear_terms_only(acts, basis):
    return _fve(acts, basis, quadratic=False)


@mutant(hint="includes the mean")
def keeps_the_mean(acts, basis):
    return _fve(acts, basis, drop_mean=False)


@mutant(hint="off by one")
def index_not_frequency(acts, basis):
    return _fve(acts, basis, shift=0)


@alternative
def with_a_mask(acts, basis):
    p = basis.shape[0]
    power = _power(acts, basis)
    total = power.sum((0, 1)) - power[0, 0]
    frequency_of = torch.tensor([0] + [k for k in range(1, p // 2 + 1) for _ in range(2)])  # basis row -> k
    results = []
    for k in range(1, p // 2 + 1):
        on_axis = (frequency_of == k) | (frequency_of == 0)
        mask = on_axis[:, None] & on_axis[None, :]
        mask[0, 0] = False
        results.append((power * mask.reshape(p, p, *([1] * (power.ndim - 2)))).sum((0, 1)) / total)
    fve, index = torch.stack(results).max(0)
    return index + 1, fve
