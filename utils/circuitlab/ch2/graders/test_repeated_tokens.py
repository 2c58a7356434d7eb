"""Grader for ch2.repeated_tokens. The tokens are random, so the checks test their properties."""
import random

import numpy as np
import pytest
import torch

from circuitlab.ch2.grading_support import on_case
from circuitlab.grading.testing import expect, expect_tensor, run_learner, seeded, submitted

# (batch, half_len, low, high, bos): a shipped-model setting, many rows, batch 1, a single possible token.
SETTINGS = [(4, 10, 2, 1026, 0), (300, 7, 5, 40, 3), (1, 1, 2, 50, 0), (3, 4, 7, 8, 1)]
IDS = ["shipped-vocab", "many-rows", "batch1-half1", "one-possible-token"]


def _case(batch, half_len, low, high, bos) -> str:
    return f"repeated_tokens(batch={batch}, half_len={half_len}, low={low}, high={high}, bos={bos})"


def _call(batch, half_len, low, high, bos, seed=0, other_seed=None):
    """Call under torch.manual_seed(seed); NumPy's and Python's generators get ``other_seed`` (default: seed)."""
    with seeded(seed):
        if other_seed is not None:
            np.random.seed(other_seed)
            random.seed(other_seed)
        tokens = run_learner(submitted(), batch, half_len, low, high, bos)
    tokens = expect_tensor(tokens, shape=(batch, 2 * half_len + 1), what="your tokens")
    expect(tokens.dtype == torch.long, f"Your tokens have dtype {tokens.dtype}; the spec asks for torch.long "
                                       "(token ids index the embedding; use dtype=torch.long or .long()).")
    return tokens


@pytest.mark.parametrize("batch, half_len, low, high, bos", SETTINGS, ids=IDS)
def test_shape_and_dtype(batch, half_len, low, high, bos):
    """shape (batch, 2 * half_len + 1), dtype torch.long"""
    with on_case(_case(batch, half_len, low, high, bos)):
        _call(batch, half_len, low, high, bos)


@pytest.mark.parametrize("batch, half_len, low, high, bos", SETTINGS, ids=IDS)
def test_bos_then_two_equal_halves(batch, half_len, low, high, bos):
    """starts with BOS, and the second half repeats the first exactly"""
    with on_case(_case(batch, half_len, low, high, bos)):
        tokens = _call(batch, half_len, low, high, bos)
        expect(bool((tokens[:, 0] == bos).all()), f"Every row must start with the BOS token ({bos}).")
        first, second = tokens[:, 1:half_len + 1], tokens[:, half_len + 1:]
        expect(torch.equal(first, second),
               "The second half must repeat the first exactly, token for token (tokens[:, 1:half_len + 1] "
               "== tokens[:, half_len + 1:]).")


@pytest.mark.parametrize("batch, half_len, low, high, bos", SETTINGS, ids=IDS)
def test_tokens_in_range(batch, half_len, low, high, bos):
    """random tokens lie in [low, high)"""
    with on_case(_case(batch, half_len, low, high, bos)):
        body = _call(batch, half_len, low, high, bos)[:, 1:]
        expect(int(body.min()) >= low and int(body.max()) < high,
               f"The random tokens must lie in the range [low, high) = [{low}, {high}); yours span "
               f"[{int(body.min())}, {int(body.max())}]. torch.randint(low, high, ...) excludes high.")


def test_rows_are_random_and_independent():
    """rows differ from each other and the tokens cover the range"""
    with on_case(_case(300, 7, 5, 40, 3)):
        tokens = _call(300, 7, 5, 40, 3)[:, 1:8]
        expect(len({tuple(row.tolist()) for row in tokens}) > 250,
               "Most rows are identical: draw a separate random half for every row (shape (batch, half_len)).")
        expect(len(tokens.unique()) == 35, "The tokens do not cover the range [low, high): draw them uniformly "
                                           "with torch.randint(low, high, (batch, half_len)).")
        counts = torch.bincount(tokens.flatten() - 5, minlength=35).float()
        # 2100 draws over 35 values: 60 expected each; a uniform draw stays well inside [25, 100].
        expect(bool((counts > 25).all() and (counts < 100).all()),
               f"The tokens are not uniform over [low, high): counts per value range from {int(counts.min())} to "
               f"{int(counts.max())} where about 60 each is expected.")
        expect(len(tokens[:, 0].unique()) > 20, "The first token of each row hardly varies: draw every position.")


def test_uses_torchs_generator():
    """the same torch seed gives the same tokens (whatever NumPy's state) and another seed different ones"""
    with on_case(_case(8, 10, 2, 100, 0)):
        a, b, c = (_call(8, 10, 2, 100, 0, seed) for seed in (1, 1, 2))
        expect(torch.equal(a, b), "Two calls under the same seed gave different tokens: draw them with torch's "
                                  "random generator (torch.randint), which torch.manual_seed controls.")
        expect(not torch.equal(a, c), "Different seeds gave the same tokens: the tokens must be random.")
        other = _call(8, 10, 2, 100, 0, seed=1, other_seed=99)
        expect(torch.equal(a, other),
               "Under the same torch.manual_seed your tokens changed with NumPy's (or Python's) random state: "
               "the spec asks for torch's random generator (torch.randint), so that torch.manual_seed alone "
               "makes the tokens reproducible.")
