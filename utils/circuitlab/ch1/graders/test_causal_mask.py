"""Grader for ch1.causal_mask."""
import pytest
import torch

from circuitlab.ch1.grading_support import mask_variant
from circuitlab.grading.testing import expect, expect_close, expect_tensor, fail, run_learner, seeded, submitted

# The spec: a masked entry is any value at or below -1e4 (IGNORE = -1e5, -inf, torch.finfo(dtype).min):
# after the softmax each gives weight exp(-1e4) = 0 to the future.
LARGE_NEGATIVE = -1e4


def _scores(seq, seed=0, batch=2, heads=3, dtype=torch.float32):
    with seeded(seed):
        return torch.randn(batch, heads, seq, seq, dtype=dtype)


def _masked_set(out):
    return out <= LARGE_NEGATIVE


@pytest.mark.parametrize("seq, batch, heads, dtype", [(5, 2, 3, torch.float32), (8, 1, 1, torch.float32),
                                                     (4, 2, 2, torch.float64)])
def test_hides_exactly_the_future(seq, batch, heads, dtype):
    """hides keys after the query (and only those) with a value at or below -1e4, keeping the dtype"""
    scores = _scores(seq, batch=batch, heads=heads, dtype=dtype)
    out = run_learner(submitted(), scores)
    where = f"scores of shape {tuple(scores.shape)}, {dtype}"
    expect_tensor(out, shape=tuple(scores.shape), dtype=dtype, what=f"masked scores ({where})")
    ones = torch.ones(seq, seq, dtype=torch.bool)
    future = torch.triu(ones, diagonal=1)
    masked = _masked_set(out)[0, 0]
    future_values = out[..., future]
    if future_values.numel() and bool((future_values < -1.0).all()) and not bool((future_values <= LARGE_NEGATIVE).all()):
        fail(f"The future scores are negative but not negative enough (the largest is {future_values.max().item():.4g}; "
             f"{where}): a masked entry must be at most -1e4 so that softmax gives it no weight. Use IGNORE (-1e5) "
             "or -inf.")
    if torch.equal(masked, torch.zeros_like(masked)) and torch.allclose(out[..., future], torch.zeros(())):
        fail("The future scores are 0 instead of a large negative value. softmax(0) is not 0: those keys would "
             "still get weight. Fill them with IGNORE (-1e5) or -inf.")
    if torch.equal(masked, torch.triu(ones, diagonal=0)):
        fail("Your mask is off by one: it also hides the diagonal. A token must be able to attend to itself "
             "(use diagonal=1 in torch.triu).")
    if torch.equal(masked, torch.triu(ones, diagonal=2)):
        fail("Your mask is off by one: each query can see the next token. Hide key > query (diagonal=1).")
    if torch.equal(masked, torch.tril(ones, diagonal=-1)):
        fail("Your mask is on the wrong axis: it hides the past (key < query) instead of the future "
             "(key > query). Scores are (..., query_pos, key_pos).")
    expect(torch.equal(masked, future), "Your mask hides the wrong entries: it should hide exactly the entries "
           "with key index > query index, in every batch and head.")
    expect(bool(_masked_set(out)[..., future].all()), "Every future entry, in every batch and head, must be masked.")


def test_keeps_other_scores():
    """leaves the scores of the present and the past unchanged"""
    scores = _scores(6, seed=1)
    out = run_learner(submitted(), scores)
    expect_tensor(out, shape=tuple(scores.shape), what="masked scores")
    keep = ~torch.triu(torch.ones(6, 6, dtype=torch.bool), diagonal=1)
    expect_close(out[..., keep], scores[..., keep], what="unmasked scores",
                 hint="Only entries with key > query change; add or fill nothing elsewhere.")


@pytest.mark.parametrize("seq", [1, 7])
def test_softmax_gives_causal_pattern(seq):
    """after softmax, the pattern equals the reference causal pattern"""
    scores = _scores(seq, seed=2) * 3
    out = run_learner(submitted(), scores)
    expect_tensor(out, shape=tuple(scores.shape), what="masked scores")
    expect_close(out.softmax(-1), mask_variant(scores, "causal").softmax(-1), what="softmax of your masked scores",
                 mistakes={"The masked scores are 0 instead of a large negative value.":
                           mask_variant(scores, "zero").softmax(-1)})
