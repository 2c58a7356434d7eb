"""Grader for ch0.attention_scores."""
import pytest
import torch

from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


@pytest.mark.parametrize("batch, pos, head, d_head", [(2, 5, 3, 4), (1, 4, 2, 9)])
def test_matches_reference(batch, pos, head, d_head):
    """scores are (batch, head, q_pos, k_pos), scaled by 1/sqrt(d_head)"""
    with seeded(4):
        q, k = torch.randn(batch, pos, head, d_head), torch.randn(batch, pos, head, d_head)
    out = run_learner(submitted(), q, k)
    raw = torch.einsum("bqhd,bkhd->bhqk", q, k)
    expect_close(out, reference()(q, k), what="attention scores", mistakes={
        "You forgot to divide by sqrt(d_head). Without it, scores grow with d_head and softmax saturates.": raw,
        "You divided by d_head; the scale is 1/sqrt(d_head).": raw / d_head,
        "Query and key positions are swapped: the output is (batch, head, q_pos, k_pos), with the query "
        "first.": raw.transpose(-1, -2) / d_head**0.5,
    })
