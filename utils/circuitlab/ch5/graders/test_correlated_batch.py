"""Grader for ch5.correlated_batch."""
import pytest
import torch

from circuitlab.ch5.grading_support import close_frequency, correlation
from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, seeded, submitted

PROBABILITY = torch.tensor([[0.3, 0.1, 0.45], [0.05, 0.4, 0.2]])  # (inst=2, pairs=3)
BATCH = 8000


def _batch(correlated, seed=0, batch_size=BATCH):
    with seeded(seed):
        out = run_learner(submitted(), PROBABILITY.clone(), batch_size, correlated=correlated)
    return expect_tensor(out, shape=(batch_size, 2, 6), dtype="float", what="your batch")


@pytest.mark.parametrize("correlated", [True, False], ids=["correlated", "anticorrelated"])
def test_shape_range_and_marginals(correlated):
    """(batch, inst, 2 * pairs), values in [0, 1), each feature present with its pair's probability p"""
    out = _batch(correlated)
    expect(bool((out >= 0).all() and (out < 1).all()), "Values must lie in [0, 1).")
    frequency = (out != 0).float().mean(0)
    expected = PROBABILITY.repeat_interleave(2, dim=-1)
    if close_frequency(frequency, expected, BATCH):
        return
    if close_frequency(frequency, expected / 2, BATCH):
        fail("Each feature is present only half as often as it should be (p/2). For anticorrelated pairs the pair "
             "fires with probability 2p and then exactly one of its two features, so each feature keeps "
             "probability p.")
    fail("The fraction of examples in which each feature is present does not match its pair's probability: "
         f"expected {expected.flatten().tolist()}, measured {[round(v, 3) for v in frequency.flatten().tolist()]}.")


def test_correlated_pairs_appear_together():
    """correlated: the two features of a pair (2k, 2k+1) are always present together"""
    present = _batch(True, seed=1) != 0
    first, second = present[..., 0::2], present[..., 1::2]
    if bool((first == second).all()):
        return
    if bool((present[..., :3] == present[..., 3:]).all()):
        fail("Your pairs are features (k, k + pairs); the pairs are adjacent features (2k, 2k + 1). Stack the "
             "two features on a last axis and rearrange '... pairs two -> ... (pairs two)'.")
    fail("In correlated mode both features of a pair must be present together or absent together; in your batch "
         f"they disagree in {float((first != second).float().mean()):.1%} of (example, pair) slots.")


def test_correlated_magnitudes_independent():
    """correlated: the two magnitudes in a pair are drawn independently"""
    out = _batch(True, seed=2)
    both = (out[..., 0] != 0) & (out[..., 1] != 0)
    r = correlation(out[..., 0][both], out[..., 1][both])
    expect(abs(r) < 0.1, "The two features of a pair share their magnitude: only their presence is correlated; "
           f"draw independent uniform magnitudes (correlation measured: {r:.2f}).")


def test_anticorrelated_pairs_never_both():
    """anticorrelated: the two features of a pair are never present together"""
    present = _batch(False, seed=3) != 0
    both = (present[..., 0::2] & present[..., 1::2]).float().mean()
    expect(float(both) == 0.0, f"In anticorrelated mode the two features of a pair must never be present together; "
           f"in your batch both are present in {float(both):.1%} of (example, pair) slots.")
    either = (present[..., 0::2] | present[..., 1::2]).float().mean(0)
    expect(close_frequency(either, (2 * PROBABILITY).clamp(max=1), BATCH),
           "An anticorrelated pair should fire (one of its features present) with probability 2p.")
