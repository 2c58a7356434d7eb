"""Grader for ch2.repeated_tokens. The tokens are random, so the checks test their properties."""
import pytest
import torch

from circuitlab.grading.testing import expect, expect_tensor, run_learner, seeded, submitted

SETTINGS = [(4, 10, 2, 1026, 0), (300, 7, 5, 40, 3)]


def _call(batch, half_len, low, high, bos, seed=0):
    with seeded(seed):
        tokens = run_learner(submitted(), batch, half_len, low, high, bos)
    return expect_tensor(tokens, shape=(batch, 2 * half_len + 1), what="your tokens")


@pytest.mark.parametrize("batch, half_len, low, high, bos", SETTINGS)
def test_shape_and_dtype(batch, half_len, low, high, bos):
    """shape (batch, 2 * half_len + 1) with integer token ids"""
    tokens = _call(batch, half_len, low, high, bos)
    expect(not tokens.is_floating_point(), f"Token ids must be integers (torch.long), not {tokens.dtype}.")


@pytest.mark.parametrize("batch, half_len, low, high, bos", SETTINGS)
def test_bos_then_two_equal_halves(batch, half_len, low, high, bos):
    """starts with BOS, and the second half repeats the first exactly"""
    tokens = _call(batch, half_len, low, high, bos)
    expect(bool((tokens[:, 0] == bos).all()), f"Every row must start with the BOS token ({bos}).")
    first, second = tokens[:, 1:half_len + 1], tokens[:, half_len + 1:]
    expect(torch.equal(first, second),
           "The second half must repeat the first exactly, token for token (tokens[:, 1:half_len + 1] "
           "== tokens[:, half_len + 1:]).")


@pytest.mark.parametrize("batch, half_len, low, high, bos", SETTINGS)
def test_tokens_in_range(batch, half_len, low, high, bos):
    """random tokens lie in [low, high)"""
    body = _call(batch, half_len, low, high, bos)[:, 1:]
    expect(int(body.min()) >= low and int(body.max()) < high,
           f"The random tokens must lie in the range [low, high) = [{low}, {high}); yours span "
           f"[{int(body.min())}, {int(body.max())}]. torch.randint(low, high, ...) excludes high.")


def test_rows_are_random_and_independent():
    """rows differ from each other and the tokens cover the range"""
    tokens = _call(300, 7, 5, 40, 3)[:, 1:8]
    expect(len({tuple(row.tolist()) for row in tokens}) > 250,
           "Most rows are identical: draw a separate random half for every row (shape (batch, half_len)).")
    expect(len(tokens.unique()) == 35, "The tokens do not cover the range [low, high): draw them uniformly "
                                       "with torch.randint(low, high, (batch, half_len)).")
    expect(len(tokens[:, 0].unique()) > 20 and len(tokens[0].unique()) >= 1,
           "The tokens do not look uniformly random.")


def test_uses_the_seed():
    """the same seed gives the same tokens and another seed different ones"""
    a, b, c = (_call(8, 10, 2, 100, 0, seed) for seed in (1, 1, 2))
    expect(torch.equal(a, b), "Two calls under the same seed gave different tokens: draw them with torch's "
                              "random generator (torch.randint), which torch.manual_seed controls.")
    expect(not torch.equal(a, c), "Different seeds gave the same tokens: the tokens must be random.")
