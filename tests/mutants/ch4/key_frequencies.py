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


def _sorted_shares(W_E, basis):
    power = _power(W_E, basis)
    per_frequency = power[1::2] + power[2::2]
    order = per_frequency.argsort(descending=True)
    return order, per_frequency[order].cumsum(0) / power.sum()


@mutant(hint="torch.int32")
def int32_frequencies(W_E, basis, fraction=0.9):
    order, shares = _sorted_shares(W_E, basis)
    return (order[: int((shares < fraction).sum()) + 1] + 1).to(torch.int32)


@mutant(hint="expected torch.int64 (torch.long)")
def float_frequencies(W_E, basis, fraction=0.9):
    # Frequencies collected into a float tensor (torch.tensor of floats, or torch.zeros filled in).
    order, shares = _sorted_shares(W_E, basis)
    return (order[: int((shares < fraction).sum()) + 1] + 1).float()


@mutant(hint="0-dim tensor")
def bare_squeeze(W_E, basis, fraction=0.9):
    order, shares = _sorted_shares(W_E, basis)
    return (order[: int((shares < fraction).sum()) + 1] + 1).squeeze()


@mutant(hint="includes equality")
def boundary_excluded(W_E, basis, fraction=0.9):
    # Keeps going while the share is <= fraction: one frequency too many when a share lands on it exactly.
    order, shares = _sorted_shares(W_E, basis)
    return order[: int((shares <= fraction).sum()) + 1] + 1


@mutant(hint="the constant row 0 included")
def total_without_constant(W_E, basis, fraction=0.9):
    power = _power(W_E, basis)
    per_frequency = power[1::2] + power[2::2]
    order = per_frequency.argsort(descending=True)
    shares = per_frequency[order].cumsum(0) / per_frequency.sum()
    return order[: int((shares < fraction).sum()) + 1] + 1


@mutant(hint="should be a torch.Tensor")
def python_list(W_E, basis, fraction=0.9):
    order, shares = _sorted_shares(W_E, basis)
    return (order[: int((shares < fraction).sum()) + 1] + 1).tolist()


@alternative
def with_searchsorted(W_E, basis, fraction=0.9):
    power = (basis @ W_E).pow(2).sum(-1)
    per_frequency = power[1::2] + power[2::2]
    shares, order = torch.sort(per_frequency / power.sum(), descending=True)
    # The first position whose cumulative share is >= fraction (right=False keeps equality on the left).
    n_needed = int(torch.searchsorted(shares.cumsum(0), torch.tensor([fraction], dtype=shares.dtype))) + 1
    return order[:n_needed] + 1


@alternative
def with_a_while_loop_over_topk(W_E, basis, fraction=0.9):
    power = torch.einsum("ix,xd->id", basis, W_E).pow(2).sum(-1)
    per_frequency = power[1::2] + power[2::2]
    values, indices = per_frequency.topk(len(per_frequency))
    covered, n = 0.0, 0
    while covered < fraction * power.sum():
        covered = covered + values[n]
        n += 1
    return indices[:n] + 1


@mutant(hint="frequencies 1 and 3 tie at 0.4 each (the identity as the basis, p=7), fraction 0.5: expected [")
def keyed_by_share(W_E, basis, fraction=0.9):
    # A dict from share to frequency: two frequencies with the same share collapse into one.
    power = _power(W_E, basis)
    frequency_of = {float(power[2 * k - 1] + power[2 * k]) / float(power.sum()): k
                    for k in range(1, basis.shape[0] // 2 + 1)}
    chosen, covered = [], 0.0
    for share in sorted(frequency_of, reverse=True):
        chosen.append(frequency_of[share])
        covered += share
        if covered >= fraction:
            break
    return torch.tensor(chosen)
