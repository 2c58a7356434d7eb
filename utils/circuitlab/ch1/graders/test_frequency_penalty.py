"""Grader for ch1.frequency_penalty."""
from __future__ import annotations

import pytest
import torch

from circuitlab.ch1.reference import frequency_penalty
from circuitlab.grading.testing import expect_close, expect_tensor, fail, run_learner, seeded, submitted


def _counts(logits: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
    counts = torch.zeros(logits.shape, dtype=torch.float64)
    for row in range(tokens.shape[0]):
        for token in tokens[row].tolist():
            counts[row, token] += 1
    return counts


def _check(logits: torch.Tensor, tokens: torch.Tensor, penalty: float, where: str) -> None:
    out = run_learner(submitted(), logits.clone(), tokens.clone(), penalty, what=f"your frequency_penalty ({where})")
    expect_tensor(out, shape=tuple(logits.shape), what=f"the penalised logits ({where})")
    if out.dtype != logits.dtype:
        fail(f"The penalised logits ({where}) have dtype {out.dtype}; the logits came in as {logits.dtype}: keep "
             "their dtype (build the counts with dtype=logits.dtype, or with zeros_like(logits)).")
    expected = frequency_penalty(logits, tokens, penalty)
    counts = _counts(logits, tokens).to(logits.dtype)
    seen = (counts > 0).to(logits.dtype)
    pooled = counts.sum(0, keepdim=True).expand_as(counts)
    mistakes = {
        "Each repeated token is penalised once, as if it had occurred once: the penalty counts occurrences, not "
        "presence (an indexed assignment x[rows, tokens] -= penalty applies a repeated index only once; "
        "scatter_add or one_hot(...).sum counts every occurrence).": logits - penalty * seen,
        "Every row is penalised for the tokens of the whole batch: count each row's own context only.":
            logits - penalty * pooled,
        "You added the penalty; subtract it, so that tokens already used become less likely.":
            logits + penalty * counts,
        "You divided or multiplied the logits by a factor; a frequency penalty subtracts penalty x count from each "
        "logit.": torch.where(counts > 0, logits / (1 + penalty * counts), logits),
    }
    if penalty == 0:
        mistakes = {"With penalty 0 the logits must come back unchanged.": logits.log_softmax(-1)}
    else:
        mistakes["You returned log-probabilities (a log_softmax); return logits - penalty * counts, unnormalised."] = \
            (logits - penalty * counts).log_softmax(-1)
    expect_close(out, expected, atol=1e-5, rtol=1e-5, what=f"the penalised logits ({where})",
                 mistakes={m: v for m, v in mistakes.items() if not torch.allclose(v, expected, atol=1e-5)},
                 axis_names=("row", "token"),
                 hint="Subtract penalty times the number of times each token occurs in that row of tokens.")


CASES = [
    # (batch, d_vocab, seq, penalty, dtype): batch 1, repeats within a row, a context longer than the vocabulary.
    (3, 8, 6, 0.7, torch.float32),
    (1, 11, 9, 1.5, torch.float32),
    (2, 5, 12, 0.25, torch.float64),
]


@pytest.mark.parametrize("batch, d_vocab, seq, penalty, dtype", CASES)
def test_matches_reference(batch, d_vocab, seq, penalty, dtype):
    """subtracts penalty x count per row (repeats counted, rows independent, batch 1, float64 kept)"""
    with seeded(batch * 100 + d_vocab):
        logits = torch.randn(batch, d_vocab, dtype=dtype)
        tokens = torch.randint(0, d_vocab, (batch, seq))
    _check(logits, tokens, penalty, f"logits {tuple(logits.shape)} {dtype}, tokens {tuple(tokens.shape)}, "
                                    f"penalty {penalty}")


def test_repeats_and_independent_rows():
    """a token seen three times loses 3 x penalty; each row only counts its own context"""
    logits = torch.tensor([[1.0, 0.5, 0.0, -0.5, 2.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    tokens = torch.tensor([[4, 4, 4, 1], [0, 2, 3, 2]])
    _check(logits, tokens, 0.5, "logits [[1, .5, 0, -.5, 2], [0] * 5], tokens [[4, 4, 4, 1], [0, 2, 3, 2]], "
                                "penalty 0.5")


def test_penalty_zero_is_identity():
    """penalty 0 returns the logits unchanged (-inf entries included)"""
    logits = torch.tensor([[0.3, float("-inf"), 1.2, -0.4], [2.0, 1.0, float("-inf"), 0.0]])
    tokens = torch.tensor([[1, 1, 0], [3, 2, 3]])
    _check(logits, tokens, 0.0, "penalty 0, logits holding -inf, tokens [[1, 1, 0], [3, 2, 3]]")
