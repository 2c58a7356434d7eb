"""Grader for ch4.neuron_freq_fve."""
import torch

from circuitlab.ch4.fixtures import neuron_acts
from circuitlab.ch4.reference import fft2d, fourier_basis
from circuitlab.grading.testing import expect, expect_close, expect_tensor, reference, run_learner, seeded, submitted


def _variant(acts, basis, quadratic=True, drop_mean=True):
    p = basis.shape[0]
    power = fft2d(acts, basis).pow(2)
    if drop_mean:
        power[0, 0] = 0.0
    explained = []
    for k in range(1, p // 2 + 1):
        rows = torch.tensor([0, 2 * k - 1, 2 * k])
        term = power[rows][:, rows].sum((0, 1))
        if not quadratic:
            term = term - power[rows[1:]][:, rows[1:]].sum((0, 1))
        explained.append(term)
    fve = torch.stack(explained) / power.sum((0, 1))
    best, index = fve.max(0)
    return index + 1, best


def _cases():
    p = neuron_acts().shape[0]
    yield "the shipped model's neurons", neuron_acts()[:, :, :128], fourier_basis(p)
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
    yield "ReLU neurons on p=13", acts, fourier_basis(13)


def test_matches_reference():
    """each neuron's best frequency and the fraction of its variance explained"""
    for what, acts, basis in _cases():
        out = run_learner(submitted(), acts, basis)
        expect(isinstance(out, (tuple, list)) and len(out) == 2, "Return a pair (freqs, fve).")
        freqs, fve = out
        n = acts.shape[-1]
        expect_tensor(freqs, shape=(n,), what="freqs")
        expect_tensor(fve, shape=(n,), dtype="float", what="fve")
        want_freqs, want_fve = reference()(acts, basis)
        linear_freqs, linear_fve = _variant(acts, basis, quadratic=False)
        _, with_mean_fve = _variant(acts, basis, drop_mean=False)
        expect_close(freqs.long(), want_freqs, what=f"freqs for {what}", mistakes={
            "Your frequencies are off by one: index k-1 of a per-frequency list holds frequency k.": want_freqs - 1,
            "You left out the product terms (cos k)(a)·(cos k)(b) etc.; a frequency explains all eight terms built "
            "from the constant, cos k and sin k on each axis.": linear_freqs,
        })
        expect_close(fve, want_fve, atol=1e-4, what=f"fve for {what}", mistakes={
            "You left out the product terms (cos k)(a)·(cos k)(b) etc.; a frequency explains all eight terms built "
            "from the constant, cos k and sin k on each axis.": linear_fve,
            "Your variance includes the mean: drop the constant-constant term [0, 0] from both the explained and "
            "the total power.": with_mean_fve,
        }, hint="fve = (power in the frequency's terms) / (total power), power being squared 2D coefficients.")
