"""Grader for ch4.trig_regression_fve: a least-squares fit per neuron, recomputed here in float64.

A neuron with no variance (all zeros, or constant) may get 0 or NaN; the others must not be affected by it.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Iterator, NamedTuple

import torch
from torch import Tensor

from circuitlab.ch4.fixtures import neuron_acts, on_input
from circuitlab.ch4.reference import fourier_basis, neuron_freq_fve
from circuitlab.grading.testing import expect_close, expect_tensor, fail, run_learner, seeded, submitted


class Case(NamedTuple):
    what: str
    acts: Tensor
    freqs: Tensor


def _fit(acts: Tensor, freqs: Tensor, *, features: str = "all", centred: bool = True, own: bool = True,
         over_p: bool = True) -> Tensor:
    """Fraction of variance explained under the spec or a mistake, 0 for a neuron with no variance."""
    p, _, d_mlp = acts.shape
    x = torch.arange(p)
    period = p if over_p else 1
    out = torch.zeros(d_mlp, dtype=torch.float64)
    for n in range(d_mlp):
        k = int(freqs[n] if own else freqs[0])
        # Reduce k·x modulo the period in integers first: without the division by p every angle is a whole
        # number of turns, and its cos and sin are then exactly 1 and 0, not rounding noise that a least-squares
        # fit could latch onto differently on different LAPACK builds.
        angle = 2 * math.pi * ((k * x) % period).double() / period
        one = torch.ones(p, dtype=torch.float64)
        cos, sin = torch.cos(angle), torch.sin(angle)
        pairs = [(u, v) for u in (one, cos, sin) for v in (one, cos, sin)]
        if features == "linear":
            pairs = pairs[:4] + [pairs[6]]  # 1, waves in b, cos a, sin a: no products
        elif features == "no constant":
            pairs = pairs[1:]
        columns = [(u[:, None] * v[None, :]).flatten() for u, v in pairs]
        if features == "sum":
            s = angle[:, None] + angle[None, :]
            columns = [torch.ones(p * p, dtype=torch.float64), torch.cos(s).flatten(), torch.sin(s).flatten()]
        design = torch.stack(columns, dim=1)
        y = acts[:, :, n].double().flatten()
        residual = y - (design @ torch.linalg.lstsq(design, y[:, None], driver="gelsd").solution)[:, 0]
        total = (y - y.mean()).pow(2).sum() if centred else y.pow(2).sum()
        if (y - y.mean()).pow(2).sum() > 1e-20:
            out[n] = 1 - residual.pow(2).sum() / total
    return out


def _build_cases() -> Iterator[Case]:
    p = neuron_acts().shape[0]
    acts = neuron_acts()[:, :, :32]
    freqs, _ = neuron_freq_fve(acts, fourier_basis(p))
    yield Case(f"the shipped model's first 32 neurons with their best frequencies (p={p}, float32)", acts, freqs)
    with seeded(0):
        angle = 2 * math.pi * torch.arange(13.0) / 13
        freqs = torch.tensor([1, 2, 3, 4, 5, 6, 2, 5])
        phases = torch.rand(len(freqs), 2) * 6.28
        acts = torch.stack([torch.relu(torch.cos(k * angle[:, None] + ph[0]) + torch.cos(k * angle[None, :] + ph[1]))
                            for k, ph in zip(freqs.tolist(), phases)], dim=-1)
        acts = acts + 0.1 * torch.randn_like(acts)
    given = freqs.clone()
    given[-1] = 3  # neuron 7 is built at frequency 5, but asked about 3: its fve is low, and that is the answer
    yield Case("eight ReLU neurons on p=13 (float32; neuron 7 is asked about a frequency it does not use)", acts, given)
    angle = 2 * math.pi * torch.arange(7, dtype=torch.float64) / 7
    a, b = angle[:, None], angle[None, :]
    neurons = [
        torch.zeros(7, 7, dtype=torch.float64),  # never fires: no variance
        torch.cos(2 * a) * torch.sin(2 * b),  # a product only: fve 1
        torch.relu(torch.cos(3 * a) + torch.sin(3 * b)),
        torch.full((7, 7), 2.5, dtype=torch.float64),  # constant: no variance either
        torch.sin(a) + 0.5 * torch.cos(b) + 0.2 * torch.cos(3 * a) * torch.cos(2 * b),
    ]
    yield Case("five float64 neurons on p=7 (neuron 0 all zeros, neuron 3 constant)", torch.stack(neurons, -1),
               torch.tensor([1, 2, 3, 1, 1]))
    cos_b = torch.cos(2 * math.pi * 2 * torch.arange(5.0) / 5)
    yield Case("a single neuron (d_mlp = 1) on p=5", torch.relu(cos_b[:, None] + cos_b[None, :] + 0.5)[..., None],
               torch.tensor([2]))


@lru_cache(maxsize=None)
def _cases() -> tuple[Case, ...]:
    return tuple(_build_cases())


@lru_cache(maxsize=None)
def _expectations(index: int) -> tuple[Tensor, dict[str, Tensor]]:
    """The spec's fve and the mistakes' for case ``index``, computed once per process."""
    case = _cases()[index]
    mistakes = {
        "You left out the four product terms (cos wa cos wb, cos wa sin wb, sin wa cos wb, sin wa sin wb); "
        "a degree-2 fit has all nine features.": _fit(case.acts, case.freqs, features="linear"),
        "You left out the constant feature (the intercept): without it the fit cannot match the neuron's mean.":
            _fit(case.acts, case.freqs, features="no constant"),
        "You fitted waves in a + b (cos w(a+b), sin w(a+b)); the features are products of waves in a and in b, "
        "nine of them.": _fit(case.acts, case.freqs, features="sum"),
        "Your total is the plain sum of squares; the variance is the sum of squares about the neuron's mean.":
            _fit(case.acts, case.freqs, centred=False),
        "You used the first neuron's frequency for every neuron; fit each neuron with its own frequency "
        "freqs[n].": _fit(case.acts, case.freqs, own=False),
        "Your angle is 2πk·a without dividing by p; w = 2π·freqs[n]/p.": _fit(case.acts, case.freqs, over_p=False),
    }
    return _fit(case.acts, case.freqs), mistakes


def _judge(out, index: int) -> None:
    case = _cases()[index]
    on = f"on {case.what}"
    n = case.acts.shape[-1]
    if isinstance(out, tuple):
        fail(f"Your result {on} is a tuple; return only the fve tensor, shape ({n},).")
    if isinstance(out, Tensor) and out.ndim == 0:
        fail(f"Your fve {on} is a 0-dim tensor; it has one entry per neuron, shape ({n},), even for one neuron "
             "(a bare .squeeze() drops the axis).")
    if not isinstance(out, Tensor):
        expect_tensor(out, dtype="float", what=f"your fve {on}")
    expect_tensor(out.detach().nan_to_num(), shape=(n,), dtype="float", what=f"your fve {on}")
    flat = case.acts.double().flatten(0, 1)
    varies = (flat - flat.mean(0)).pow(2).sum(0) > 1e-20
    got = out.detach().double()
    if not bool((torch.isnan(got[~varies]) | (got[~varies] == 0)).all()):
        fail(f"Your fve {on}: neuron {int(torch.nonzero(~varies)[0])} has no variance, so its fve should be 0 or NaN, "
             f"but yours is {got[~varies].tolist()}.")
    expect_tensor(got[varies], what=f"your fve {on}, on the neurons that vary")
    mask = varies.double()
    right, mistakes = _expectations(index)
    expect_close(got.nan_to_num(0.0) * mask, right * mask, atol=1e-4, rtol=1e-4,
                 what=f"your fve {on}", axis_names=("neuron",),
                 mistakes=on_input(case.what, {hint: value * mask for hint, value in mistakes.items()}),
                 hint="fve = 1 - Σ residual² / Σ (y - mean y)², the residual of a least-squares fit on the nine "
                      "features.")


def test_matches_reference():
    """each neuron's fraction of variance explained by its frequency's nine trig terms (float, shape (d_mlp,))"""
    for index, case in enumerate(_cases()):
        out = run_learner(submitted(), case.acts, case.freqs, what=f"your trig_regression_fve on {case.what}")
        _judge(out, index)
