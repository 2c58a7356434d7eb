"""Grader for ch4.key_frequencies."""
import torch

from circuitlab.ch4.fixtures import final_model, synthetic_embedding
from circuitlab.ch4.reference import fft1d, fourier_basis
from circuitlab.grading.testing import expect, expect_tensor, reference, run_learner, submitted


def _cases():
    p = final_model().cfg.d_vocab_out
    yield "the shipped model's embedding", final_model().W_E[:p].detach(), fourier_basis(p), 0.9
    planted = synthetic_embedding(13, {2: 3.0, 5: 2.0, 3: 1.0})
    yield "an embedding with frequencies 2, 5, 3 planted", planted, fourier_basis(13), 0.9
    yield "the same embedding at fraction 0.5", planted, fourier_basis(13), 0.5


def _cos_only(W_E, basis, fraction):
    power = fft1d(W_E, basis).pow(2).sum(-1)
    per_frequency = power[1::2]
    order = per_frequency.argsort(descending=True)
    shares = per_frequency[order].cumsum(0) / power.sum()
    return order[: int((shares < fraction).sum()) + 1] + 1


def test_matches_reference():
    """the fewest frequencies, largest first, whose cos and sin terms carry the given share of the squared norm"""
    for what, W_E, basis, fraction in _cases():
        out = run_learner(submitted(), W_E, basis, fraction)
        out = expect_tensor(out, what=f"the key frequencies of {what}")
        expect(out.ndim == 1 and not out.is_floating_point(),
               f"Return a 1D tensor of integer frequencies; yours has shape {tuple(out.shape)} and dtype {out.dtype}.")
        expected = reference()(W_E, basis, fraction)
        got = out.tolist()
        want = expected.tolist()
        if got == want:
            continue
        expect(got != [2 * k - 1 for k in want] and got != [2 * k for k in want],
               "You returned basis row indices; return frequencies k (rows 2k-1 and 2k hold cos k and sin k).")
        expect(got != [k - 1 for k in want],
               "Your frequencies are off by one: the frequency of rows 2k-1 and 2k is k, which starts at 1.")
        expect(sorted(got) != sorted(want),
               f"Right frequencies, wrong order: list them largest share first (expected {want}, got {got}).")
        expect(got != want[:-1], "You stopped one frequency short: keep adding frequencies until their share "
               f"reaches the fraction (at least {fraction}), so the last one counts (expected {want}, got {got}).")
        expect(got != _cos_only(W_E, basis, fraction).tolist(),
               "You counted only the cos coefficients; a frequency's share is its cos and sin terms together.")
        expect(False, f"For {what} at fraction {fraction}, expected {want}, got {got}. A frequency k's share "
               "is (squared norm of rows 2k-1 and 2k of fft1d(W_E)) / (squared norm of all coefficients).")
