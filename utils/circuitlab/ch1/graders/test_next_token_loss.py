"""Grader for ch1.next_token_loss."""
import pytest
import torch
import torch.nn.functional as F

from circuitlab.grading.testing import (
    expect, expect_close, expect_grads_close, expect_tensor, run_learner, seeded, submitted,
)


def _inputs(batch, seq, vocab, seed):
    with seeded(seed):
        return 2 * torch.randn(batch, seq, vocab), torch.randint(0, vocab, (batch, seq))


def _ce(logits, targets, reduction="mean"):
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), reduction=reduction)


@pytest.mark.parametrize("batch, seq, vocab", [(2, 6, 11), (3, 4, 7), (1, 2, 5), (1, 9, 13)])
def test_matches_reference(batch, seq, vocab):
    """mean cross-entropy of predicting token i + 1 from the logits at position i"""
    logits, tokens = _inputs(batch, seq, vocab, seed=batch)
    out = run_learner(submitted(), logits, tokens)
    where = f"batch {batch}, seq {seq}, d_vocab {vocab}"
    expect_tensor(out, shape=(), what=f"loss on {where} (a 0-dim tensor)", dtype="float")
    probs_instead_of_log = -logits[:, :-1].softmax(-1).gather(-1, tokens[:, 1:, None]).mean()
    expect_close(out, _ce(logits[:, :-1], tokens[:, 1:]), what=f"loss on {where}", atol=1e-5, mistakes={
        "You did not shift: the logits at position i predict tokens[:, i + 1], so compare logits[:, :-1] "
        "with tokens[:, 1:].": _ce(logits, tokens),
        "You shifted the wrong way: logits[:, :-1] (not logits[:, 1:]) predict tokens[:, 1:] (not tokens[:, :-1]).":
            _ce(logits[:, 1:], tokens[:, :-1]),
        "You averaged probabilities, not log-probabilities: take log_softmax before picking the target's entry.":
            probs_instead_of_log,
        "You summed the losses; take the mean over batch and positions.": _ce(logits[:, :-1], tokens[:, 1:], "sum"),
    })


def test_differentiable():
    """the loss back-propagates to the logits with the reference's gradient"""
    logits, tokens = _inputs(2, 5, 9, seed=7)
    mine, theirs = logits.clone().requires_grad_(True), logits.clone().requires_grad_(True)
    out = run_learner(submitted(), mine, tokens)
    expect_tensor(out, shape=(), what="loss", dtype="float")
    expect(out.requires_grad, "The loss is detached from the logits (was .item(), .detach() or a NumPy step used?); "
           "return a tensor so loss.backward() reaches the model.")
    run_learner(out.backward, what="loss.backward() on your loss")
    _ce(theirs[:, :-1], tokens[:, 1:]).backward()
    expect_grads_close({"the logits": mine.grad}, {"the logits": theirs.grad}, what="gradient of your loss")
