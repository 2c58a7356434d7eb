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


@mutant(hint="terms with the constant")
def products_only(acts, basis):
    p = basis.shape[0]
    power = _power(acts, basis)
    power[0, 0] = 0
    scores = [power[2 * k - 1:2 * k + 1, 2 * k - 1:2 * k + 1].sum((0, 1)) for k in range(1, p // 2 + 1)]
    best, index = (torch.stack(scores) / power.sum((0, 1))).max(0)
    return index + 1, best


@mutant(hint="power of all the neurons together")
def one_total_for_every_neuron(acts, basis):
    p = basis.shape[0]
    power = _power(acts, basis)
    power[0, 0] = 0
    scores = []
    for k in range(1, p // 2 + 1):
        idx = torch.tensor([0, 2 * k - 1, 2 * k])
        scores.append(power[idx][:, idx].sum((0, 1)))
    best, index = (torch.stack(scores) / power.sum()).max(0)
    return index + 1, best


@mutant(hint="expected torch.int64 (torch.long)")
def float_frequencies(acts, basis):
    freqs, fve = _fve(acts, basis)
    return freqs.float(), fve


@mutant(hint="0-dim tensor")
def bare_squeeze(acts, basis):
    freqs, fve = _fve(acts, basis)
    return freqs.squeeze(), fve.squeeze()


@mutant(hint="should be a tuple")
def stacked(acts, basis):
    freqs, fve = _fve(acts, basis)
    return torch.stack([freqs.to(fve.dtype), fve])


@alternative
def guarded_division_and_last_of_ties(acts, basis):
    """A zero-variance neuron gets fve 0 (guarded division); ties go to the higher frequency."""
    p = basis.shape[0]
    power = _power(acts, basis)
    power[0, 0] = 0
    scores = []
    for k in range(1, p // 2 + 1):
        idx = torch.tensor([0, 2 * k - 1, 2 * k])
        scores.append(power[idx][:, idx].sum((0, 1)))
    fve = torch.stack(scores) / power.sum((0, 1)).clamp(min=1e-30)
    flipped = fve.flip(0)  # max returns the first maximum: flip so that ties go to the last frequency
    best, index = flipped.max(0)
    return fve.shape[0] - index, best
