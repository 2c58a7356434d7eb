"""Grader for ch1.top_p."""
import pytest
import torch

from circuitlab.ch1.reference import top_p_filter
from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, seeded, submitted


def _kept(out):
    return torch.isfinite(out) & (out > -1e9)


def _check(logits, p):
    out = run_learner(submitted(), logits, p)
    expect_tensor(out, shape=tuple(logits.shape), what="filtered logits", dtype="float")
    want = _kept(top_p_filter(logits, p))
    got = _kept(out)
    if torch.equal(got, want):
        expect(torch.equal(out[want], logits[want]), "The kept logits must be unchanged.")
        return
    if torch.equal(got, torch.ones_like(got)) and bool((out == 0).any()):
        fail("The dropped tokens are set to 0, which still leaves them probability. Set them to -inf.")
    n_got, n_want = got.sum(-1), want.sum(-1)
    if bool((got & ~want).sum() == 0) and bool((n_got == n_want - 1).all()):
        fail("You drop the token that crosses the threshold. Keep the smallest set of most likely tokens whose "
             "total reaches p: a token is kept while the mass ranked strictly above it is below p.")
    if bool((got & ~want).sum() == 0) and bool((n_got < n_want).any()):
        fail("You keep too few tokens; the kept tokens' probabilities must add up to at least p.")
    if bool((got & ~want).any()):
        fail("You kept tokens outside the nucleus. Work with probabilities (softmax of the logits), sorted in "
             "descending order (the nucleus is the most likely tokens), and put the mask back in vocabulary order.")
    fail("You kept the wrong tokens. Work with probabilities (softmax), not logits, sorted in descending order.")


def test_known_distribution():
    """keeps the most likely tokens up to and including the one that crosses p"""
    probs = torch.tensor([[0.05, 0.5, 0.15, 0.3], [0.25, 0.25, 0.4, 0.1]])
    _check(probs.log(), 0.7)


@pytest.mark.parametrize("p", [0.3, 0.9])
def test_random_logits(p):
    """matches the reference nucleus on random rows"""
    with seeded(101):
        logits = 2 * torch.randn(5, 16)
    _check(logits, p)
