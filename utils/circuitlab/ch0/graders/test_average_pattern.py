"""Grader for ch0.average_pattern."""
import pytest
import torch

from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


@pytest.mark.parametrize("shape", [(3, 4, 5, 6), (1, 1, 1, 4), (1, 3, 4, 4), (2, 1, 3, 2)])
def test_matches_reference(shape):
    """averages over batch and heads, keeping (query, key)"""
    with seeded(1):
        pattern = torch.rand(*shape).softmax(-1)
    out = run_learner(submitted(), pattern)
    expect_close(out, reference()(pattern), what=f"average_pattern output on a pattern of shape {shape}",
                 axis_names=("query position", "key position"), mistakes={
        "You summed instead of averaging: use 'mean' as the reduction.": pattern.sum((0, 1)),
        "You kept the heads and averaged something else: only batch and head disappear.": pattern.mean((0, 2)),
        "The output is transposed: it should be (query position, key position).": pattern.mean((0, 1)).T,
    })
