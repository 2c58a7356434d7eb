"""Grader for ch0.split_heads."""
import pytest
import torch
from einops import rearrange

from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


@pytest.mark.parametrize("batch, pos, n_heads, d_head", [(2, 3, 4, 5), (1, 7, 3, 2), (2, 1, 5, 3), (1, 1, 1, 4)])
def test_matches_reference(batch, pos, n_heads, d_head):
    """splits the last axis into (n_heads, d_head), head index first"""
    with seeded(0):
        x = torch.randn(batch, pos, n_heads * d_head)
    out = run_learner(submitted(), x, n_heads)
    expected = reference()(x, n_heads)
    swapped = rearrange(x, "b p (d h) -> b p h d", h=n_heads)
    expect_close(out, expected, what=f"split_heads output (x of shape {tuple(x.shape)}, n_heads={n_heads})",
                 axis_names=("batch", "position", "head", "d_head"), mistakes={
        "The split order is reversed: you wrote (d_head n_heads). The head index varies slowest, so the "
        "left-hand side is (n_heads d_head).": swapped,
        "You moved the head axis before the position axis; the output is (batch, pos, n_heads, d_head).":
            rearrange(x, "b p (h d) -> b h p d", h=n_heads),
    })
