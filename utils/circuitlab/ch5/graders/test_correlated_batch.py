"""Grader for ch5.correlated_batch.

Statistical checks run on fixed seeds with 8000 examples: a correct answer stays more than five
standard errors inside every band; each targeted mistake lands far outside it.
"""
import pytest
import torch

from circuitlab.ch5.grading_support import (
    close_frequency, correlation_matrix, joint_magnitude_correlation, looks_gaussian, not_uniform, on_case,
)
from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, seeded, submitted

# (inst=3, pairs=3). p = 0.5 is the boundary of the anticorrelated mode (the pair always fires);
# instance 2 repeats a probability so pairs sharing one draw are as visible as possible.
PROBABILITY = torch.tensor([[0.3, 0.1, 0.45], [0.05, 0.4, 0.2], [0.25, 0.25, 0.5]])
BATCH = 8000
MAX_CORRELATION = 0.07  # standard error of a correlation over 8000 examples: about 0.011
MODES = {"correlated": True, "anticorrelated": False}

SHAPE_CASES = {
    "3 instances x 3 pairs, batch 7": (PROBABILITY, 7),
    "1 instance x 1 pair, batch 1": (torch.tensor([[0.3]]), 1),
    "2 instances x 4 pairs, batch 3": (torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.5, 0.05, 0.25, 0.15]]), 3),
}


_LARGE: dict = {}


@pytest.fixture(autouse=True, scope="module")
def _fresh_cache():
    """The large batch is drawn once per check and shared by the statistical tests below."""
    _LARGE.clear()
    yield
    _LARGE.clear()


def _batch(correlated, seed=0, probability=PROBABILITY, batch_size=BATCH):
    if batch_size != BATCH or probability is not PROBABILITY:
        return _draw(correlated, seed, probability, batch_size)
    key = correlated
    if key not in _LARGE:
        try:
            _LARGE[key] = _draw(correlated, seed=0)
        except BaseException as exc:  # every test that needs the batch reports the same failure
            _LARGE[key] = exc
    if isinstance(_LARGE[key], BaseException):
        raise _LARGE[key]
    return _LARGE[key]


def _draw(correlated, seed=0, probability=PROBABILITY, batch_size=BATCH):
    with seeded(seed):
        out = run_learner(submitted(), probability.clone(), batch_size, correlated=correlated)
    shape = (batch_size, probability.shape[0], 2 * probability.shape[1])
    return expect_tensor(out, shape=shape, dtype="float", what="your batch")


def _mode(correlated):
    return "correlated=True" if correlated else "correlated=False"


@pytest.mark.parametrize("case", list(SHAPE_CASES))
@pytest.mark.parametrize("mode", list(MODES))
def test_shape(mode, case):
    """(batch, inst, 2 * pairs) floats, for any sizes (batch 1 and a single pair included)"""
    probability, batch_size = SHAPE_CASES[case]
    with on_case(f"{_mode(MODES[mode])}, probability of shape {tuple(probability.shape)}, batch_size={batch_size}"):
        _batch(MODES[mode], probability=probability, batch_size=batch_size)


@pytest.mark.parametrize("mode", list(MODES))
def test_range_and_marginals(mode):
    """values in [0, 1), each feature present with its pair's probability p"""
    correlated = MODES[mode]
    with on_case(_mode(correlated)):
        out = _batch(correlated)
        if not bool((out >= 0).all() and (out < 1).all()):
            if looks_gaussian(out[out != 0]):
                fail("Your magnitudes follow a normal law (values outside [0, 1)): torch.randn draws from a normal "
                     "law; magnitudes are uniform in [0, 1), torch.rand.")
            fail(f"Values must lie in [0, 1); yours range from {float(out.min()):.3g} to {float(out.max()):.3g}.")
        frequency = (out != 0).float().mean(0)
        expected = PROBABILITY.repeat_interleave(2, dim=-1)
        if close_frequency(frequency, expected, BATCH):
            return
        if close_frequency(frequency, expected / 2, BATCH):
            fail("Each feature is present only half as often as it should be (p/2). For anticorrelated pairs the "
                 "pair fires with probability 2p and then exactly one of its two features, so each feature keeps "
                 "probability p.")
        fail("The fraction of examples in which each feature is present does not match its pair's probability: "
             f"expected {expected.flatten().tolist()}, measured "
             f"{[round(v, 3) for v in frequency.flatten().tolist()]}.")


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


def test_anticorrelated_pairs_never_both():
    """anticorrelated: a pair fires with probability 2p, then exactly one of its features, each with chance 1/2"""
    present = _batch(False, seed=3) != 0
    first, second = present[..., 0::2], present[..., 1::2]
    both = (first & second).float().mean()
    expect(float(both) == 0.0, f"In anticorrelated mode the two features of a pair must never be present together; "
           f"in your batch both are present in {float(both):.1%} of (example, pair) slots.")
    either = (first | second).float()
    expect(close_frequency(either.mean(0), (2 * PROBABILITY).clamp(max=1), BATCH),
           "An anticorrelated pair should fire (one of its features present) with probability 2p; measured "
           f"{[round(v, 3) for v in either.mean(0).flatten().tolist()]} for 2p = {(2 * PROBABILITY).flatten().tolist()}.")
    fired = either.sum(0)
    share_first = first.float().sum(0) / fired.clamp_min(1)
    expect(close_frequency(share_first, torch.full_like(share_first, 0.5), int(fired.min())),
           "When an anticorrelated pair fires, each of its two features should be the one present half of the "
           f"time; the first feature's share in your batch is {[round(v, 3) for v in share_first.flatten().tolist()]}.")


def _cross_pair_mask(n_inst, n_pairs):
    """True for (a, b) feature indices (flattened over inst, feat) that do not belong to the same pair."""
    pair_of = torch.arange(n_inst * 2 * n_pairs) // 2
    return pair_of[:, None] != pair_of[None, :]


def _describe(a, b, n_pairs):
    n_feat = 2 * n_pairs
    inst_a, inst_b, pair_a, pair_b = a // n_feat, b // n_feat, (a % n_feat) // 2, (b % n_feat) // 2
    if inst_a != inst_b and pair_a == pair_b:
        return f"pair {pair_a} of instances {inst_a} and {inst_b}", "the instances share their draws"
    if inst_a == inst_b:
        return f"pairs {pair_a} and {pair_b} of instance {inst_a}", "the pairs of an instance share their draws"
    return f"pair {pair_a} of instance {inst_a} and pair {pair_b} of instance {inst_b}", "draws are shared"


@pytest.mark.parametrize("mode", list(MODES))
def test_pairs_independent(mode):
    """different pairs (and instances, and examples) are independent of each other"""
    correlated = MODES[mode]
    with on_case(_mode(correlated)):
        out = _batch(correlated, seed=2)
        present = (out != 0).flatten(1).float()
        corr = correlation_matrix(present).abs() * _cross_pair_mask(*PROBABILITY.shape)
        n_pairs = PROBABILITY.shape[1]
        worst = float(corr.max())
        where = tuple(int(i) for i in torch.unravel_index(corr.argmax(), corr.shape))
        if worst > MAX_CORRELATION:
            what, why = _describe(*where, n_pairs)
            fail(f"Presence in {what} is correlated ({worst:.2f}; 0 expected): {why}. Only the two features "
                 "of one pair depend on each other: draw independent random numbers for every (example, "
                 "instance, pair).")
        lagged = correlation_matrix(torch.cat([present[:-1], present[1:]], 1))
        n = present.shape[1]
        lag = float(torch.diagonal(lagged[:n, n:]).abs().max())
        expect(lag <= MAX_CORRELATION, "Consecutive examples are not independent of each other (presence "
               f"correlation {lag:.2f} between example b and b + 1): draw fresh random numbers per example.")


@pytest.mark.parametrize("mode", list(MODES))
def test_magnitudes_uniform_and_independent(mode):
    """magnitudes are uniform in [0, 1) and independent, even within a pair"""
    correlated = MODES[mode]
    with on_case(_mode(correlated)):
        out = _batch(correlated, seed=4)
        flat = out.flatten(1)
        for a in range(flat.shape[1]):
            values = flat[:, a][flat[:, a] != 0]
            if values.numel() < 300 or not not_uniform(values):
                continue
            p = float(PROBABILITY.flatten()[a // 2])
            high = 2 * p if not correlated else p
            if high < 0.95 and float(values.max()) < high + 1e-6:
                n_feat = 2 * PROBABILITY.shape[1]
                fail(f"Presence and magnitude come from the same random number: the present values of feature "
                     f"{a % n_feat} of instance {a // n_feat} all lie below {high:g}. Draw the magnitudes with "
                     "their own torch.rand.")
            quantiles = torch.quantile(values.float(), torch.linspace(0.1, 0.9, 5)).tolist()
            fail(f"Magnitudes are not uniform in [0, 1): the 10/30/50/70/90% quantiles of one feature's present "
                 f"values are {[round(q, 3) for q in quantiles]}, expected about [0.1, 0.3, 0.5, 0.7, 0.9].")
        if correlated:
            both = (out[..., 0::2] != 0) & (out[..., 1::2] != 0)
            r = float(correlation_matrix(torch.stack([out[..., 0::2][both], out[..., 1::2][both]], 1))[0, 1])
            expect(abs(r) < 0.1, "The two features of a pair share their magnitude: only their presence is "
                   f"correlated; draw independent uniform magnitudes (correlation measured: {r:.2f}).")
        corr, count = joint_magnitude_correlation(flat)
        shared = (corr.abs() >= 0.3) & (count >= 300) & _cross_pair_mask(*PROBABILITY.shape)
        if bool(shared.any()):
            a, b = (int(i) for i in shared.nonzero()[0])
            what, _ = _describe(a, b, PROBABILITY.shape[1])
            fail(f"Magnitudes in {what} are correlated ({float(corr[a, b]):.2f}): they share their magnitude "
                 "draws. Draw an independent uniform magnitude for every feature.")


def test_fresh_batch_each_call():
    """two calls in a row give different batches (no seed set inside, nothing cached)"""
    with seeded(5):
        first = run_learner(submitted(), PROBABILITY.clone(), 64, correlated=True)
        second = run_learner(submitted(), PROBABILITY.clone(), 64, correlated=True)
    first = expect_tensor(first, shape=(64, 3, 6), what="your first batch")
    second = expect_tensor(second, shape=(64, 3, 6), what="your second batch")
    expect(not torch.equal(first, second), "Two calls in a row returned the same batch. Every call must draw new "
           "random numbers: do not set a seed inside correlated_batch or reuse a tensor from an earlier call.")
