"""Grader for ch1.top_k."""
import pytest
import torch

from circuitlab.ch1.reference import top_k_filter
from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, seeded, submitted


def _kept(out):
    return torch.isfinite(out) & (out > -1e9)


def _check(logits, k):
    out = run_learner(submitted(), logits, k)
    expect_tensor(out, shape=tuple(logits.shape), what="filtered logits", dtype="float")
    expected = top_k_filter(logits, k)
    want = _kept(expected)
    got = _kept(out)
    if torch.equal(got, torch.ones_like(got)) and not torch.equal(want, got):
        if bool((out == 0).any()) and not bool((logits == 0).any()):
            fail("The dropped tokens are set to 0, which still leaves them probability. Set them to -inf.")
    if not torch.equal(got, want):
        n_got, n_want = got.sum(-1).tolist(), want.sum(-1).tolist()
        if all(g == w + 1 for g, w in zip(n_got, n_want)):
            fail("You keep k + 1 tokens per row: the threshold is the k-th largest logit, topk(k).values[..., -1].")
        if all(g == w - 1 for g, w in zip(n_got, n_want)) and not bool((got & ~want).any()):
            fail("You drop the k-th largest token itself: keep logits >= the k-th largest value (not >).")
        if bool((want & ~got).any()) and not bool((got & ~want).any()):
            fail(f"Tokens tied with the k-th largest logit were dropped (kept {n_got} per row, expected {n_want}). "
                 "Keep every logit >= the k-th largest value, so tied tokens are treated alike.")
        fail(f"You kept the wrong tokens: kept {n_got} per row, expected {n_want}. Keep the k largest logits of "
             "each row (along the vocabulary axis, dim=-1).")
    expect(torch.equal(out[want], logits[want]), "The kept logits must be unchanged.")


@pytest.mark.parametrize("k", [1, 3])
def test_random_logits(k):
    """keeps the k largest logits of each row and sets the others to -inf"""
    with seeded(91):
        logits = torch.randn(4, 12)
    _check(logits, k)


def test_ties_at_the_boundary():
    """keeps every token tied with the k-th largest logit"""
    logits = torch.tensor([[3.0, 2.0, 2.0, 1.0, 0.5], [0.0, 1.0, 1.0, 1.0, -1.0]])
    _check(logits, 2)
