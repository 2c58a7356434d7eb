"""Grader for ch0.pick_targets."""
import pytest
import torch

from circuitlab.ch0.grading_support import (
    expect_gradient_like_torch, expect_refuses_dtype, expect_shape, squeezed_shape,
)
from circuitlab.grading.testing import expect_close, expect_tensor, run_learner, seeded, submitted


def _inputs(batch, seq, vocab, dtype=torch.float32, seed=0):
    with seeded(seed):
        log_probs = torch.randn(batch, seq, vocab, dtype=dtype).log_softmax(-1)
        targets = torch.randint(0, vocab, (batch, seq))
    return log_probs, targets


def _by_hand(log_probs, targets):
    return torch.tensor([[log_probs[b, s, targets[b, s]].item() for s in range(targets.shape[1])]
                         for b in range(targets.shape[0])], dtype=log_probs.dtype)


# (batch, seq, vocab, dtype): batch 1, seq 1, a single-token vocabulary, float64, non-square everything.
CASES = [(2, 5, 7, torch.float32), (1, 4, 6, torch.float32), (3, 1, 5, torch.float64), (2, 3, 1, torch.float32),
         (1, 1, 9, torch.float64)]


@pytest.mark.parametrize("batch, seq, vocab, dtype", CASES)
def test_matches_reference(batch, seq, vocab, dtype):
    """returns (batch, seq) in log_probs's dtype: each position's log-probability of its own target"""
    log_probs, targets = _inputs(batch, seq, vocab, dtype, seed=batch + seq)
    where = f"log_probs of shape {tuple(log_probs.shape)}, {dtype}, targets of shape {tuple(targets.shape)}"
    out = run_learner(submitted(), log_probs, targets)
    expected = _by_hand(log_probs, targets)
    expect_shape(out, (batch, seq), what=f"pick_targets output ({where})", shape_hints={
        (batch, seq, 1): "Remove the index's trailing axis after gathering: .squeeze(-1).",
        squeezed_shape((batch, seq)): "A bare .squeeze() also removed the batch or position axis of size 1: "
                                      "squeeze only the last axis, .squeeze(-1).",
        (batch, seq - 1): "You shifted by one position (the next-token shift of a loss); here position s takes "
                          "its own target, targets[b, s].",
        (batch, seq, batch, seq): "log_probs[:, :, targets] picks every target for every position; gather picks "
                                  "one per position: log_probs.gather(-1, targets.unsqueeze(-1)).",
    })
    expect_tensor(out, dtype=dtype, what=f"pick_targets output ({where})")
    mistakes = {"You returned minus the log-probabilities; the spec asks for log_probs's entries themselves.":
                -expected}
    expect_close(out, expected, what=f"pick_targets output ({where})", mistakes=mistakes, atol=1e-6,
                 axis_names=("batch", "position"))


def test_minus_infinity_entries():
    """entries of -inf (ruled-out tokens) come back as -inf, the others unchanged"""
    log_probs, targets = _inputs(2, 4, 5, seed=3)
    log_probs[0, 1, targets[0, 1]] = float("-inf")  # a target the model rules out
    log_probs[1, :, 0] = float("-inf")
    where = "log_probs with -inf entries, some at the targets"
    out = run_learner(submitted(), log_probs, targets)
    expect_close(out, _by_hand(log_probs, targets), what=f"pick_targets output ({where})",
                 axis_names=("batch", "position"))


def test_repeated_targets():
    """the same target at every position, and ties between log-probabilities"""
    log_probs = torch.full((2, 3, 4), -4.0).log_softmax(-1)  # all tied
    log_probs[1, 2] = torch.tensor([0.5, 0.2, 0.2, 0.1]).log()
    targets = torch.tensor([[2, 2, 2], [0, 1, 2]])
    out = run_learner(submitted(), log_probs, targets)
    expect_close(out, _by_hand(log_probs, targets), what="pick_targets output (tied log-probabilities)",
                 axis_names=("batch", "position"))


@pytest.mark.parametrize("dtype", [torch.int32, torch.float32], ids=["int32", "float"])
def test_refuses_other_target_dtypes(dtype):
    """targets that are not torch.long raise an error naming their dtype"""
    log_probs, targets = _inputs(2, 3, 4, seed=5)
    expect_refuses_dtype(submitted(), (log_probs, targets.to(dtype)), dtype, what="pick_targets")


def test_gradient():
    """the gradient flows back to log_probs, equal to torch.gather's"""
    log_probs, targets = _inputs(2, 4, 6, seed=9)
    expect_gradient_like_torch(submitted(), lambda lp, t: lp.gather(-1, t[..., None])[..., 0], log_probs, targets,
                               what="pick_targets", context="log_probs (2, 4, 6)")
