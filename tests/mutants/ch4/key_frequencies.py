"""Mutants and alternatives for ch4.key_frequencies."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _power(W_E, basis):
    return (basis @ W_E).pow(2).sum(-1)


@mutant(hint="row indices")
def returns_rows(W_E, basis, fraction=0.9):
    power = _power(W_E, basis)
    per_frequency = power[1::2] + power[2::2]
    order = per_frequency.argsort(descending=True)
    shares = per_frequency[order].cumsum(0) / power.sum()
    chosen = order[: int((shares < fraction).sum()) + 1] + 1
    return 2 * chosen - 1


@mutant(hint="only the cos")
def cos_only(W_E, basis, fraction=0.9):
    power = _power(W_E, basis)
    per_frequency = power[1::2]
    order = per_frequency.argsort(descending=True)
    shares = per_frequency[order].cumsum(0) / power.sum()
    return order[: int((shares < fraction).sum()) + 1] + 1


@mutant(hint="one frequency short")
def one_short(W_E, basis, fraction=0.9):
    power = _power(W_E, basis)
    per_frequency = power[1::2] + power[2::2]
    order = per_frequency.argsort(descending=True)
    shares = per_frequency[order].cumsum(0) / power.sum()
    return order[: int((shares < fraction).sum())] + 1


@mutant(hint="largest share first")
def ascending_frequency(W_E, basis, fraction=0.9):
    power = _power(W_E, basis)
    per_frequency = power[1::2] + power[2::2]
    order = per_frequency.argsort(descending=True)
    shares = per_frequency[order].cumsum(0) / power.sum()
    return (order[: int((shares < fraction).sum()) + 1] + 1).sort().values


@alternative
def with_a_python_loop(W_E, basis, fraction=0.9):
    coefficients = basis @ W_E
    total = coefficients.pow(2).sum()
    p = basis.shape[0]
    shares = {k: (coefficients[2 * k - 1].pow(2).sum() + coefficients[2 * k].pow(2).sum()) / total
              for k in range(1, p // 2 + 1)}
    chosen, covered = [], 0.0
    for k in sorted(shares, key=shares.get, reverse=True):
        chosen.append(k)
        covered += float(shares[k])
        if covered >= fraction:
            break
    return torch.tensor(chosen)
