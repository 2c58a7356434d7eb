"""Grader for ch0.final_logits."""
import pytest
import torch

from circuitlab.ch0.grading_support import expect_gradient_like_torch, expect_shape, squeezed_shape
from circuitlab.grading.testing import expect_close, expect_tensor, run_learner, seeded, submitted


def _by_hand(logits, end_pos):
    return torch.stack([logits[b, int(end_pos[b])] for b in range(logits.shape[0])])


# (batch, seq, vocab, end positions, dtype): unsorted and tied end positions, a prompt of one token (0), one of
# the full width (seq - 1), batch 1, a one-entry vocabulary, float64.
CASES = [
    (4, 6, 5, [5, 2, 0, 2], torch.float32),
    (1, 7, 3, [4], torch.float32),
    (3, 4, 1, [1, 3, 2], torch.float64),
    (2, 1, 6, [0, 0], torch.float32),
    (5, 3, 8, [2, 2, 1, 0, 2], torch.float64),
]


@pytest.mark.parametrize("batch, seq, vocab, ends, dtype", CASES)
def test_matches_reference(batch, seq, vocab, ends, dtype):
    """returns (batch, vocab): each prompt's logits at its own end position"""
    with seeded(batch * 10 + seq):
        logits = torch.randn(batch, seq, vocab, dtype=dtype)
    end_pos = torch.tensor(ends)
    where = f"logits of shape {tuple(logits.shape)}, {dtype}, end_pos = {ends}"
    out = run_learner(submitted(), logits, end_pos)
    expected = _by_hand(logits, end_pos)
    hints = {
        squeezed_shape((batch, vocab)): "A bare .squeeze() also removed an axis of size 1 (batch 1 or a one-entry "
                                        "vocabulary): index without squeezing, or squeeze one named axis.",
        (batch, batch, vocab): "logits[:, end_pos] takes every end position for every prompt (batch x batch rows); "
                               "pair each prompt with its own: logits[torch.arange(batch), end_pos].",
    }
    expect_shape(out, (batch, vocab), what=f"final_logits output ({where})", shape_hints=hints)
    expect_tensor(out, dtype=dtype, what=f"final_logits output ({where})")
    mistakes = {}
    if any(e != seq - 1 for e in ends):
        mistakes["You read the last position, logits[:, -1]; with right padding that is a pad token for every "
                 "prompt shorter than the longest. Read each prompt at its own end_pos."] = logits[:, -1]
    if all(e >= 1 for e in ends):
        mistakes["You read one position before each prompt's end (end_pos - 1); end_pos is already the index of "
                 "the last real token."] = _by_hand(logits, end_pos - 1)
    if all(e + 1 < seq for e in ends):
        mistakes["You read one position after each prompt's end (end_pos + 1), which is padding; end_pos is the "
                 "index of the last real token."] = _by_hand(logits, end_pos + 1)
    if batch > 1 and ends != [ends[0]] * batch:
        mistakes["Every prompt got the first prompt's end position; each prompt has its own end_pos[b]."] = \
            logits[:, ends[0]]
    expect_close(out, expected, what=f"final_logits output ({where})", mistakes=mistakes, atol=0, rtol=0,
                 axis_names=("prompt", "vocabulary entry"))


def test_gradient():
    """the gradient flows back to the logits, equal to indexing's"""
    with seeded(3):
        logits = torch.randn(3, 5, 4)
    end_pos = torch.tensor([4, 1, 1])
    expect_gradient_like_torch(submitted(), lambda x, e: x[torch.arange(3), e], logits, end_pos,
                               what="final_logits", context="logits (3, 5, 4), end_pos = [4, 1, 1]")
