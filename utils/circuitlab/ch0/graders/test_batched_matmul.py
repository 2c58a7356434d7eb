"""Grader for ch0.batched_matmul."""
import pytest
import torch

from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


@pytest.mark.parametrize("batch, i, j, k", [(2, 3, 4, 5), (3, 2, 2, 2), (1, 1, 3, 2)])
def test_matches_reference(batch, i, j, k):
    """computes a @ b for every batch element"""
    with seeded(3):
        a, b = torch.randn(batch, i, j), torch.randn(batch, j, k)
    out = run_learner(submitted(), a, b)
    mistakes = {}
    if i == k and j == k:
        mistakes["You contracted the wrong index of b: the shared axis is b's first (rows), "
                 "i.e. 'batch j k', not 'batch k j'."] = a @ b.transpose(1, 2)
        mistakes["The output is transposed: 'batch i k', not 'batch k i'."] = (a @ b).transpose(1, 2)
    expect_close(out, reference()(a, b), what=f"batched_matmul output (a {tuple(a.shape)}, b {tuple(b.shape)})",
                 mistakes=mistakes, axis_names=("batch", "i", "k"))
