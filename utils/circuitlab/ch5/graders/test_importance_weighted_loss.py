"""Grader for ch5.importance_weighted_loss."""
import pytest
import torch

from circuitlab.ch5.grading_support import expect_gradients_close, expect_plain_tensor, gradients, on_case
from circuitlab.grading.testing import expect, expect_close, fail, reference, run_learner, seeded, submitted

CASES = {
    # name: (batch, inst, feat, importance per instance)
    "batch 6, 3 instances, 4 features, importance of shape (feat,)": (6, 3, 4, False),
    "batch 5, 2 instances, 7 features, importance of shape (inst, feat)": (5, 2, 7, True),
    "batch 1, 1 instance, 3 features, importance of shape (feat,)": (1, 1, 3, False),
    "batch 1, 4 instances, 4 features, importance of shape (inst, feat)": (1, 4, 4, True),
}


def _inputs(batch, inst, feat, per_instance_importance, seed):
    with seeded(seed):
        output, features = torch.rand(batch, inst, feat), torch.rand(batch, inst, feat)
        shape = (inst, feat) if per_instance_importance else (feat,)
        importance = 0.2 + 0.8 * torch.rand(shape)
    return output, features, importance


@pytest.mark.parametrize("case", list(CASES))
def test_matches_reference(case):
    """a 0-dim tensor: mean over batch and features of importance * error**2, summed over instances"""
    batch, inst, feat, per_instance = CASES[case]
    output, features, importance = _inputs(batch, inst, feat, per_instance, seed=batch * 10 + inst)
    with on_case(case):
        loss = run_learner(submitted(), output, features, importance)
        loss = expect_plain_tensor(loss, what="the loss")
        if loss.ndim != 0:
            fail(f"The loss has shape {tuple(loss.shape)}; return a scalar (a 0-dim tensor): the mean over batch "
                 "and features, summed over instances.")
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
            "You summed over the batch; average over batch and features, then sum over instances.":
                expected * batch,
        }, hint="Return a scalar: (importance * (features - output)**2), averaged over batch and features per "
                "instance, then summed over instances.")


@pytest.mark.parametrize("case", list(CASES)[:2])
def test_gradient(case):
    """the loss is differentiable: its gradient with respect to the output equals the reference's"""
    batch, inst, feat, per_instance = CASES[case]
    output, features, importance = _inputs(batch, inst, feat, per_instance, seed=batch * 10 + inst + 1)
    with on_case(case):
        learner_output = output.clone().requires_grad_(True)
        loss = run_learner(submitted(), learner_output, features, importance)
        loss = expect_plain_tensor(loss, what="the loss")
        expect(loss.requires_grad, "The loss is not connected to the output through autograd: do not call "
               ".item(), .detach() or build a new tensor from its value; training backpropagates through it.")
        reference_output = output.clone().requires_grad_(True)
        expected = reference()(reference_output, features, importance)
        expect_gradients_close(gradients(loss, {"output": learner_output}),
                               gradients(expected, {"output": reference_output}), what="the loss")
