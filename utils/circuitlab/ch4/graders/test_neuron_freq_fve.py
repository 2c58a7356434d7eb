"""Grader for ch4.neuron_freq_fve.

A neuron's frequency is judged by the fraction of variance it explains: when two frequencies explain the same
fraction (a tie), either is right. A neuron whose activations are all zero has no variance: its fve may be NaN
(0 / 0) or 0 and its frequency is not checked; the other neurons must not be affected by it.
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

import torch
from torch import Tensor

from circuitlab.ch4.fixtures import neuron_acts, on_input
from circuitlab.ch4.reference import fft2d, fourier_basis
from circuitlab.grading.testing import expect_close, expect_tensor, expect_type, fail, run_learner, seeded, submitted


class Case(NamedTuple):
    what: str
    acts: Tensor
    basis: Tensor


def _fve_table(acts: Tensor, basis: Tensor, *, blocks: str = "all", drop_mean: bool = True,
               per_neuron_total: bool = True) -> Tensor:
    """(frequency - 1, neuron) fraction of variance explained, in float64, under the spec or a common mistake:
    ``blocks`` "all" (the 3 x 3 block), "linear" (no products of two waves) or "products" (no constant rows)."""
    p = basis.shape[0]
    power = fft2d(acts.double(), basis.double()).pow(2)
    if drop_mean:
        power[0, 0] = 0.0
    rows = []
    for k in range(1, p // 2 + 1):
        waves = torch.tensor([2 * k - 1, 2 * k])
        every = torch.tensor([0, 2 * k - 1, 2 * k])
        if blocks == "products":
            explained = power[waves][:, waves].sum((0, 1))
        else:
            explained = power[every][:, every].sum((0, 1))
            if blocks == "linear":
                explained = explained - power[waves][:, waves].sum((0, 1))
        rows.append(explained)
    total = power.sum((0, 1)) if per_neuron_total else power.sum()
    return torch.stack(rows) / total


def _cases() -> Iterator[Case]:
    p = neuron_acts().shape[0]
    yield Case(f"the shipped model's first 128 neurons (p={p}, float32)", neuron_acts()[:, :, :128], fourier_basis(p))
    with seeded(0):
        x = torch.arange(13.0)
        angle = 2 * torch.pi * x / 13
        a, b = angle[:, None], angle[None, :]
        # Neurons that are ReLUs of sums of waves in a and b at frequencies 1..6, plus noise.
        freqs = torch.arange(1, 7).repeat(2)
        phases = torch.rand(len(freqs), 2) * 6.28
        acts = torch.stack([torch.relu(torch.cos(k * a + ph[0]) + torch.cos(k * b + ph[1]))
                            for k, ph in zip(freqs.tolist(), phases)], dim=-1)
        acts = acts + 0.1 * torch.randn_like(acts)
    yield Case("ReLU neurons on p=13 (float32)", acts, fourier_basis(13))
    angle = 2 * torch.pi * torch.arange(7, dtype=torch.float64) / 7
    a, b = angle[:, None], angle[None, :]
    neurons = [
        torch.zeros(7, 7, dtype=torch.float64),  # never fires: no variance at all
        torch.cos(a) + torch.cos(2 * b) + 0 * a,  # frequencies 1 and 2 tie at 0.5
        torch.relu(torch.cos(3 * a) + torch.sin(3 * b)),  # frequency 3, with products of waves
        torch.cos(2 * a) * torch.sin(2 * b),  # frequency 2, products only
        torch.sin(a) + 0.3 * torch.cos(3 * b) + 0 * a,  # frequency 1, no products
    ]
    yield Case("five float64 neurons on p=7 (an all-zero neuron 0, a tie between frequencies 1 and 2 in neuron 1)",
               torch.stack(neurons, dim=-1), fourier_basis(7).double())
    cos_b = torch.cos(2 * torch.pi * 2 * torch.arange(5.0) / 5)
    one = (torch.relu(cos_b[:, None] + cos_b[None, :]))[..., None]
    yield Case("a single neuron (d_mlp = 1) on p=5", one, fourier_basis(5))


def _judge(out, case: Case) -> None:
    on = f"on {case.what}"
    n = case.acts.shape[-1]
    expect_type(out, tuple, what=f"your result {on}")
    if len(out) != 2:
        fail(f"Your result {on} has {len(out)} items; return the pair (freqs, fve).")
    freqs, fve = out
    for name, value in (("freqs", freqs), ("fve", fve)):
        if isinstance(value, torch.Tensor) and value.ndim == 0:
            fail(f"{name} {on} is a 0-dim tensor; it has one entry per neuron, shape ({n},), even for one neuron "
                 "(a bare .squeeze() drops the axis).")
    expect_tensor(freqs, shape=(n,), dtype=torch.long, what=f"freqs {on}")
    if not isinstance(fve, torch.Tensor) or not fve.is_floating_point():
        expect_tensor(fve, dtype="float", what=f"fve {on}")
    expect_tensor(fve.detach().nan_to_num(), shape=(n,), what=f"fve {on}")  # NaN is allowed for a dead neuron only
    table = _fve_table(case.acts, case.basis)
    alive = case.acts.flatten(0, 1).abs().amax(0) > 0
    dead_fve = fve.detach()[~alive]
    if dead_fve.numel() and not bool((torch.isnan(dead_fve) | (dead_fve == 0)).all()):
        fail(f"fve {on}: neuron {int(torch.nonzero(~alive)[0])} is all zeros, so it has no variance; its fve should "
             f"be NaN (0 / 0) or 0, but yours is {dead_fve.tolist()}.")
    expect_tensor(fve.detach()[alive], what=f"fve {on}, on the neurons that are not all zeros")
    index = torch.nonzero(alive).flatten()

    def best_fve(**mistake) -> Tensor:
        """Each neuron's largest fve (under the spec or a mistake), 0 for the all-zero neurons."""
        return _fve_table(case.acts, case.basis, **mistake).max(0).values.nan_to_num(0.0) * alive

    best = best_fve()
    mistakes = {
        "You left out the product terms (cos k)(a)·(cos k)(b) etc.; a frequency explains all eight terms built "
        "from the constant, cos k and sin k on each axis.": best_fve(blocks="linear"),
        "You left out the terms with the constant (row or column 0): a frequency explains the whole 3 x 3 block "
        "{0, 2k-1, 2k} x {0, 2k-1, 2k}, waves in a alone and in b alone included.": best_fve(blocks="products"),
        "Your variance includes the mean: drop the constant-constant term [0, 0] from both the explained and "
        "the total power.": best_fve(drop_mean=False),
        "You divided by the power of all the neurons together; each neuron's fve is over its own total power "
        "(sum over the two Fourier axes only, .sum((0, 1))).": best_fve(per_neuron_total=False),
    }
    comparable = fve.detach().double().nan_to_num(0.0) * alive  # a dead neuron's NaN or 0 is not compared
    expect_close(comparable, best, atol=1e-4, what=f"fve {on}", axis_names=("neuron",),
                 mistakes=on_input(case.what, mistakes),
                 hint="fve = (power in the frequency's terms) / (total power), power being squared 2D coefficients.")
    got = freqs[alive]
    n_frequencies = table.shape[0]

    def explains_the_most(frequencies: Tensor) -> Tensor:
        """Per living neuron: a valid frequency whose fve is the best (up to rounding, so ties count)."""
        valid = (frequencies >= 1) & (frequencies <= n_frequencies)
        chosen = table[:, alive].gather(0, (frequencies.clamp(1, n_frequencies) - 1)[None])[0]
        return valid & (chosen >= best[alive] - 1e-6)

    right = explains_the_most(got)
    if bool(right.all()):
        return
    if bool(explains_the_most(got + 1).all()):
        fail(f"freqs {on}: your frequencies are off by one: index k-1 of a per-frequency list holds frequency k.")
    wrong = int(index[~right][0])
    fail(f"freqs {on}: {int((~right).sum())} of {len(got)} neurons have the wrong frequency; neuron {wrong} has "
         f"{int(freqs[wrong])}, but frequency {int(table[:, wrong].argmax()) + 1} explains more of its variance "
         f"({float(table[:, wrong].max()):.4f}). The frequency is the one with the largest fve, numbered from 1.")


def test_matches_reference():
    """each neuron's best frequency (long) and the fraction of its variance explained (float)"""
    for case in _cases():
        out = run_learner(submitted(), case.acts, case.basis, what=f"your neuron_freq_fve on {case.what}")
        _judge(out, case)
