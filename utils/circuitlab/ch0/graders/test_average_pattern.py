"""Grader for ch0.average_pattern."""
import torch

from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


def test_matches_reference():
    """averages over batch and heads, keeping (query, key)"""
    with seeded(1):
        pattern = torch.rand(3, 4, 5, 6).softmax(-1)
    out = run_learner(submitted(), pattern)
    expect_close(out, reference()(pattern), what="average_pattern output", mistakes={
        "You summed instead of averaging: use 'mean' as the reduction.": pattern.sum((0, 1)),
        "You kept the heads and averaged something else: only batch and head disappear.": pattern.mean((0, 2)),
        "The output is transposed: it should be (query position, key position).": pattern.mean((0, 1)).T,
    })
