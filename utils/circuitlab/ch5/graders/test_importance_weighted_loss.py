"""Grader for ch5.importance_weighted_loss."""
import pytest
import torch

from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


def _inputs(batch, inst, feat, per_instance_importance, seed):
    with seeded(seed):
        output, features = torch.rand(batch, inst, feat), torch.rand(batch, inst, feat)
        shape = (inst, feat) if per_instance_importance else (feat,)
        importance = 0.2 + 0.8 * torch.rand(shape)
    return output, features, importance


@pytest.mark.parametrize("batch, inst, feat, per_instance_importance", [(6, 3, 4, False), (5, 2, 7, True)])
def test_matches_reference(batch, inst, feat, per_instance_importance):
    """a scalar: mean over batch and features of importance * error**2, summed over instances"""
    output, features, importance = _inputs(batch, inst, feat, per_instance_importance, seed=inst)
    loss = run_learner(submitted(), output, features, importance)
    expected = reference()(output, features, importance)
    error = features - output
    expect_close(loss, expected, what="the loss", mistakes={
        "The importance sits inside the square, (I * (x - x'))**2, so it counts squared. It weights the "
        "squared error: I * (x - x')**2 (importance applied outside the square).": reference()(
            importance * output, importance * features, torch.ones_like(importance)),
        "The loss ignores the importance: weight each feature's squared error by its importance.":
            reference()(output, features, torch.ones_like(importance)),
        "You took the absolute error, not the squared error.": (importance * error.abs()).mean((0, 2)).sum(),
        "You averaged over instances; sum over them instead, so each instance's gradient does not shrink as "
        "more instances train together.": expected / inst,
        "You summed over features; average over batch and features, then sum over instances.":
            expected * feat,
    }, hint="Return a scalar: (importance * (features - output)**2), averaged over batch and features per "
            "instance, then summed over instances.")
