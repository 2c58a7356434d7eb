"""Grader for ch5.generate_batch."""
import torch

from circuitlab.ch5.grading_support import close_frequency, correlation
from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, seeded, submitted

PROBABILITY = torch.tensor([[1.0, 0.5, 0.2, 0.0], [0.9, 0.3, 0.05, 0.6], [0.1, 0.1, 0.7, 0.02]])
BATCH = 8000


def _batch(batch_size=BATCH, seed=0):
    with seeded(seed):
        return run_learner(submitted(), PROBABILITY.clone(), batch_size)


def test_shape_and_range():
    """returns (batch, inst, feat) with values in [0, 1)"""
    out = expect_tensor(_batch(batch_size=7), shape=(7, 3, 4), dtype="float", what="your batch")
    expect(bool((out >= 0).all() and (out < 1).all()), "Feature values must lie in [0, 1): a magnitude uniform in "
           f"[0, 1) when present, 0 when absent. Yours range from {float(out.min()):.3g} to {float(out.max()):.3g}.")


def test_presence_frequency():
    """each feature is present (nonzero) with its probability p"""
    out = expect_tensor(_batch(), shape=(BATCH, 3, 4), what="your batch")
    frequency = (out != 0).float().mean(0)
    if close_frequency(frequency, PROBABILITY, BATCH):
        return
    if close_frequency(frequency, 1 - PROBABILITY, BATCH):
        fail("Your features are present with probability 1 - p: the probability is inverted. A feature is present "
             "where torch.rand(...) < p, not where it is greater.")
    if bool((frequency > 0.99).all()):
        fail("Every feature is present in almost every example: you forgot to zero the absent features "
             "(multiply the magnitudes by the presence mask).")
    fail("The fraction of examples in which each feature is nonzero does not match its probability: expected "
         f"{PROBABILITY.flatten().tolist()}, measured {[round(v, 3) for v in frequency.flatten().tolist()]}.")


def test_magnitudes_uniform():
    """a present feature has a magnitude uniform in [0, 1)"""
    out = expect_tensor(_batch(seed=1), shape=(BATCH, 3, 4), what="your batch")
    present = out[out != 0]
    expect(present.numel() > 1000, "Almost no feature is ever present in your batch.")
    expect(float(present.std()) > 0.05, "Every present feature has the same magnitude: a present feature's value "
           "should be uniform in [0, 1) (torch.rand), not a constant.")
    mean, std = float(present.mean()), float(present.std())
    expect(abs(mean - 0.5) < 0.02 and abs(std - 12 ** -0.5) < 0.02,
           f"Present features should be uniform in [0, 1) (mean 0.5, std 0.289); yours have mean {mean:.3f} and "
           f"std {std:.3f}. Use torch.rand, not torch.randn.")


def test_features_independent():
    """features appear independently of each other (and differ between examples)"""
    out = expect_tensor(_batch(seed=2), shape=(BATCH, 3, 4), what="your batch")
    present = out != 0
    worst = max(abs(correlation(present[:, 1, 0], present[:, 1, 1])),
                abs(correlation(present[:, 0, 1], present[:, 1, 1])),
                abs(correlation(present[:, 2, 2], present[:, 1, 3])))
    expect(worst < 0.05, "Whether one feature is present should not tell you whether another one is: draw an "
           "independent random number for every (example, instance, feature), not one per example or per "
           f"instance. The presence of two features in your batch has correlation {worst:.2f}.")
    magnitudes = out[:, 1, 0]  # present in about 90% of examples
    expect(float(magnitudes.std()) > 0.1, "Every example in your batch is the same: draw fresh random numbers per "
           "example.")
