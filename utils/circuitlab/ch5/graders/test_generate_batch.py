"""Grader for ch5.generate_batch.

The statistical checks run on fixed seeds with 8000 examples: a correct answer stays more than
five standard errors inside every band, and each targeted mistake lands far outside it.
"""
import pytest
import torch

from circuitlab.ch5.grading_support import (
    close_frequency, correlation_matrix, joint_magnitude_correlation, looks_gaussian, not_uniform, on_case,
)
from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, seeded, submitted

# Rows differ in probability, and 1 and 0 sit at the exact ends (always and never present).
PROBABILITY = torch.tensor([[1.0, 0.5, 0.2, 0.0], [0.9, 0.3, 0.05, 0.6], [0.1, 0.5, 0.7, 0.02]])
BATCH = 8000
# Correlations between independent indicators over 8000 examples have a standard error of about 0.011.
MAX_CORRELATION = 0.07

SHAPE_CASES = {
    "3 instances x 4 features, batch 7": (PROBABILITY, 7),
    "1 instance x 5 features, batch 1": (torch.tensor([[0.5, 0.9, 0.1, 1.0, 0.3]]), 1),
    "2 instances x 1 feature, batch 3": (torch.tensor([[0.4], [1.0]]), 3),
}


_LARGE: dict = {}


@pytest.fixture(autouse=True, scope="module")
def _fresh_cache():
    """The large batch is drawn once per check and shared by the statistical tests below."""
    _LARGE.clear()
    yield
    _LARGE.clear()


def _batch(probability=PROBABILITY, batch_size=BATCH, seed=0):
    if batch_size != BATCH or probability is not PROBABILITY:
        return _draw(probability, batch_size, seed)
    key = None
    if key not in _LARGE:
        try:
            _LARGE[key] = _draw(seed=0)
        except BaseException as exc:  # every test that needs the batch reports the same failure
            _LARGE[key] = exc
    if isinstance(_LARGE[key], BaseException):
        raise _LARGE[key]
    return _LARGE[key]


def _draw(probability=PROBABILITY, batch_size=BATCH, seed=0):
    with seeded(seed):
        out = run_learner(submitted(), probability.clone(), batch_size)
    shape = (batch_size, *probability.shape)
    return expect_tensor(out, shape=shape, dtype="float", what="your batch")


def _present_magnitudes(out):
    return out[out != 0]


@pytest.mark.parametrize("case", list(SHAPE_CASES))
def test_shape(case):
    """returns a float tensor (batch, inst, feat), for any sizes (batch 1 and one instance included)"""
    probability, batch_size = SHAPE_CASES[case]
    with on_case(f"probability of shape {tuple(probability.shape)}, batch_size={batch_size}"):
        _batch(probability, batch_size)


def test_values_in_range():
    """values lie in [0, 1): 0 when absent, a magnitude in [0, 1) when present"""
    out = _batch(seed=4)
    if bool((out >= 0).all() and (out < 1).all()):
        return
    present = _present_magnitudes(out)
    if looks_gaussian(present):
        fail("Your magnitudes follow a normal distribution (values below 0 or above 1): torch.randn draws from "
             "a normal law; a present feature's magnitude is uniform in [0, 1), which is torch.rand.")
    fail(f"Feature values must lie in [0, 1); yours range from {float(out.min()):.3g} to {float(out.max()):.3g}.")


def test_presence_frequency():
    """each feature is present (nonzero) with its probability p; p = 1 always, p = 0 never"""
    out = _batch()
    frequency = (out != 0).float().mean(0)
    if close_frequency(frequency, PROBABILITY, BATCH):
        return
    if close_frequency(frequency, 1 - PROBABILITY, BATCH):
        fail("Your features are present with probability 1 - p: the probability is inverted. A feature is present "
             "where torch.rand(...) < p, not where it is greater.")
    if bool((frequency > 0.99).all()):
        fail("Every feature is present in almost every example: you forgot to zero the absent features "
             "(multiply the magnitudes by the presence mask).")
    bad = [(i, f) for i in range(PROBABILITY.shape[0]) for f in range(PROBABILITY.shape[1])
           if not close_frequency(frequency[i, f], PROBABILITY[i, f], BATCH)]
    details = "; ".join(f"instance {i} feature {f}: p = {float(PROBABILITY[i, f]):g}, present in "
                        f"{float(frequency[i, f]):.3f}" for i, f in bad[:4])
    fail(f"The fraction of examples in which a feature is nonzero does not match its probability ({details}).")


def _pair_text(i, j):
    n_feat = PROBABILITY.shape[1]
    return f"(instance {i // n_feat}, feature {i % n_feat}) and (instance {j // n_feat}, feature {j % n_feat})"


def _worst_pair(corr, kind):
    n_feat = PROBABILITY.shape[1]
    best, where = 0.0, None
    for i in range(corr.shape[0]):
        for j in range(i + 1, corr.shape[0]):
            same_inst, same_feat = i // n_feat == j // n_feat, i % n_feat == j % n_feat
            relation = "instances" if same_feat else "features" if same_inst else "other"
            if relation == kind and abs(float(corr[i, j])) > best:
                best, where = abs(float(corr[i, j])), (i, j)
    return best, where


def test_presence_independent():
    """whether a feature is present is independent across features, instances and examples"""
    out = _batch(seed=2)
    present = (out != 0).flatten(1)  # (batch, inst * feat)
    corr = correlation_matrix(present.float())
    across_instances, pair_i = _worst_pair(corr, "instances")
    across_features, pair_f = _worst_pair(corr, "features")
    other, _ = _worst_pair(corr, "other")
    independent = "Draw an independent random number for every (example, instance, feature)"
    if min(across_instances, across_features, other) > MAX_CORRELATION:
        fail(f"{independent}: in your batch all features of an example appear together (one draw per example "
             f"shared by every instance and feature; correlation up to {max(across_instances, across_features):.2f}).")
    if across_instances > MAX_CORRELATION:
        fail(f"{independent}: every instance uses the same presence draws. {_pair_text(*pair_i)} have "
             f"presence correlation {across_instances:.2f} (0 expected); the random tensor needs the instance axis too.")
    if across_features > MAX_CORRELATION:
        fail(f"{independent}: the features of an instance share their presence draws. {_pair_text(*pair_f)} have "
             f"presence correlation {across_features:.2f} (0 expected).")
    lagged = correlation_matrix(torch.cat([present[:-1], present[1:]], 1).float())
    n = present.shape[1]
    lag = float(torch.diagonal(lagged[:n, n:]).abs().max())
    expect(lag <= MAX_CORRELATION, f"{independent}: consecutive examples are not independent of each other "
           f"(presence correlation {lag:.2f} between example b and b + 1).")


def test_magnitudes_uniform():
    """a present feature's magnitude is uniform in [0, 1), whatever its probability"""
    out = _batch(seed=1)
    present = _present_magnitudes(out)
    expect(present.numel() > 1000, "Almost no feature is ever present in your batch.")
    expect(float(present.std()) > 0.05, "Every present feature has the same magnitude: a present feature's value "
           "should be uniform in [0, 1) (torch.rand), not a constant.")
    for i in range(PROBABILITY.shape[0]):
        for f in range(PROBABILITY.shape[1]):
            values = out[:, i, f][out[:, i, f] != 0]
            if values.numel() < 300 or not not_uniform(values):
                continue
            p = float(PROBABILITY[i, f])
            if p < 0.95 and (float(values.max()) < p + 1e-6 or float(values.min()) > 1 - p - 1e-6):
                fail(f"Presence and magnitude come from the same random number: the present values of instance {i} "
                     f"feature {f} (p = {p:g}) all lie between {float(values.min()):.3f} and {float(values.max()):.3f} "
                     "instead of spreading over [0, 1). Draw the magnitude with a second, independent torch.rand.")
            if looks_gaussian(values):
                fail(f"The present values of instance {i} feature {f} follow a normal law (mean {float(values.mean()):.3f}, "
                     f"std {float(values.std()):.3f}): torch.randn draws from a normal law; use torch.rand, uniform in [0, 1).")
            deciles = torch.quantile(values.float(), torch.linspace(0.1, 0.9, 5)).tolist()
            fail(f"The present values of instance {i} feature {f} are not uniform in [0, 1): their 10/30/50/70/90% "
                 f"quantiles are {[round(q, 3) for q in deciles]}, expected about [0.1, 0.3, 0.5, 0.7, 0.9].")


def test_magnitudes_independent():
    """magnitudes are independent across features, instances and examples"""
    out = _batch(seed=3)
    corr, count = joint_magnitude_correlation(out.flatten(1))
    shared = (corr.abs() >= 0.3) & (count >= 500)
    shared.fill_diagonal_(False)
    if bool(shared.any()):
        a, b = (int(i) for i in shared.nonzero()[0])
        fail(f"When both are present, {_pair_text(a, b)} have magnitude correlation {float(corr[a, b]):.2f}: they "
             "share their magnitude. Draw an independent uniform magnitude for every (example, instance, feature).")
    magnitudes = out[:, 0, 0]  # p = 1: present in every example
    expect(float(magnitudes.std()) > 0.1, "Every example in your batch has the same magnitudes: draw fresh random "
           "numbers per example.")


def test_fresh_batch_each_call():
    """two calls in a row give different batches (no seed set inside, nothing cached)"""
    with seeded(5):
        first = run_learner(submitted(), PROBABILITY.clone(), 64)
        second = run_learner(submitted(), PROBABILITY.clone(), 64)
    first = expect_tensor(first, shape=(64, 3, 4), what="your first batch")
    second = expect_tensor(second, shape=(64, 3, 4), what="your second batch")
    expect(not torch.equal(first, second), "Two calls in a row returned the same batch. Every call must draw new "
           "random numbers: do not set a seed inside generate_batch or reuse a tensor from an earlier call.")
