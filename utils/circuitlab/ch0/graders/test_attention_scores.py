"""Grader for ch0.attention_scores."""
import pytest
import torch

from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


# (batch, q_pos, k_pos, head, d_head): batch 1, fewer queries than keys (as after a KV cache), d_head 9 and 1.
@pytest.mark.parametrize("batch, q_pos, k_pos, head, d_head", [(2, 5, 5, 3, 4), (1, 4, 4, 2, 9), (3, 2, 6, 1, 5),
                                                               (1, 1, 3, 4, 1)])
def test_matches_reference(batch, q_pos, k_pos, head, d_head):
    """scores are (batch, head, q_pos, k_pos), scaled by 1/sqrt(d_head)"""
    with seeded(4):
        q, k = torch.randn(batch, q_pos, head, d_head), torch.randn(batch, k_pos, head, d_head)
    where = f"q of shape {tuple(q.shape)}, k of shape {tuple(k.shape)}"
    out = run_learner(submitted(), q, k)
    raw = torch.einsum("bqhd,bkhd->bhqk", q, k)
    mistakes = {
        "You divided by d_head; the scale is 1/sqrt(d_head).": raw / d_head,
        "Query and key positions are swapped: the output is (batch, head, q_pos, k_pos), with the query "
        "first.": raw.transpose(-1, -2) / d_head**0.5,
    }
    if d_head != 1:  # with d_head = 1 the scale is 1, so an unscaled answer is right
        mistakes["You forgot to divide by sqrt(d_head). Without it, scores grow with d_head and softmax saturates."] = raw
    if head != d_head:
        mistakes["You divided by the square root of the number of heads (q.shape[2]); d_head is the last axis, "
                 "q.shape[-1]."] = raw / head**0.5
    expect_close(out, reference()(q, k), what=f"attention scores ({where})", mistakes=mistakes,
                 axis_names=("batch", "head", "query position", "key position"))
