"""Grader for ch1.top_k."""
import pytest
import torch

from circuitlab.ch1.reference import top_k_filter
from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, seeded, submitted


def _kept(out):
    return torch.isfinite(out) & (out > -1e9)


def _rows(mask: torch.Tensor) -> str:
    return ", ".join(str(i) for i in mask.nonzero().flatten().tolist())


def _check(logits, k, where):
    out = run_learner(submitted(), logits.clone(), k)
    expect_tensor(out, shape=tuple(logits.shape), what=f"filtered logits ({where})", dtype="float")
    expected = top_k_filter(logits, k)
    want, got = _kept(expected), _kept(out)
    if torch.equal(got, torch.ones_like(got)) and not torch.equal(want, got):
        if bool((out[~want] == 0).all()):
            fail(f"The dropped tokens are set to 0, which still leaves them probability ({where}). Set them to -inf.")
    if not torch.equal(got, want):
        kth = logits.topk(k, dim=-1).values[..., -1:]
        missing, extra = want & ~got, got & ~want
        at_kth = logits == kth
        n_got, n_want = got.sum(-1).tolist(), want.sum(-1).tolist()
        bad_rows = (missing | extra).any(-1)
        if not bool(extra.any()) and bool((missing <= at_kth).all()):
            # Every dropped token that should be kept is tied with the k-th largest value.
            if bool((got & at_kth)[bad_rows].any(-1).all()):
                fail(f"Tokens tied with the k-th largest logit were dropped in row(s) {_rows(bad_rows)} ({where}; kept "
                     f"{n_got} per row, expected {n_want}). Keep every logit >= the k-th largest value, so tied "
                     "tokens are treated alike.")
            fail(f"You drop the k-th largest token itself ({where}): keep logits >= the k-th largest value (not >).")
        if not bool(missing.any()) and all(g == w + 1 for g, w, b in zip(n_got, n_want, bad_rows.tolist()) if b):
            fail(f"You keep k + 1 tokens in row(s) {_rows(bad_rows)} ({where}): the threshold is the k-th largest "
                 "logit, topk(k).values[..., -1].")
        fail(f"You kept the wrong tokens in row(s) {_rows(bad_rows)} ({where}): kept {n_got} per row, expected "
             f"{n_want}. Keep the k largest logits of each row (along the vocabulary axis, dim=-1).")
    expect(torch.equal(out[want], logits[want]), f"The kept logits must be unchanged ({where}).")


@pytest.mark.parametrize("k, shape", [(1, (4, 12)), (3, (4, 12)), (2, (1, 7)), (5, (2, 5))])
def test_random_logits(k, shape):
    """keeps the k largest logits of each row and sets the others to -inf (k = 1, batch 1, k = d_vocab)"""
    with seeded(91):
        logits = torch.randn(*shape)
    _check(logits, k, f"k={k}, logits of shape {shape}")


def test_ties_at_the_boundary():
    """keeps every token tied with the k-th largest logit; rows without ties keep exactly k"""
    logits = torch.tensor([[3.0, 2.0, 2.0, 1.0, 0.5], [0.0, 1.0, 1.0, 1.0, -1.0], [0.3, -0.2, 0.9, 0.1, 0.0]])
    _check(logits, 2, "k=2, rows 0 and 1 with ties at the k-th largest, row 2 without")


def test_already_filtered_logits():
    """works on logits that already hold -inf (filters can be chained)"""
    logits = torch.tensor([[2.0, float("-inf"), 0.5, -1.0, float("-inf"), 1.5]])
    _check(logits, 2, "k=2, a row that already holds -inf")
