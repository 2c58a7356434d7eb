"""Grader for ch5.train_toy_model."""
import copy

import pytest
import torch

from circuitlab.ch5 import reference as ref
from circuitlab.ch5.toy import importance_for
from circuitlab.grading.testing import expect, fail, run_learner, seeded, submitted

CFG = ref.ToyConfig(n_instances=2, n_features=5, n_hidden=2)
STEPS, BATCH, LR = 60, 32, 1e-2


class _Recorder:
    """Wraps batch_fn and loss_fn to see how the learner's loop uses them."""

    def __init__(self, model):
        self.model = model
        self.batch_calls = []
        self.loss_calls = 0
        self.stale_gradient_at_backward = False

    def batch_fn(self, probability, batch_size):
        self.batch_calls.append(batch_size)
        return ref.generate_batch(probability, batch_size)

    def loss_fn(self, output, features, importance):
        self.loss_calls += 1
        loss = ref.importance_weighted_loss(output, features, importance)
        if loss.requires_grad:
            loss.register_hook(self._check_gradients_were_cleared)
        return loss

    def _check_gradients_were_cleared(self, grad):
        # Runs during backward, before this step's gradients reach the parameters.
        for p in self.model.parameters():
            if p.grad is not None and bool(p.grad.abs().sum() > 0):
                self.stale_gradient_at_backward = True
        return grad


def _eval_loss(model, probability, importance):
    with seeded(123), torch.no_grad():
        features = ref.generate_batch(probability, 1024)
        return float(ref.importance_weighted_loss(model(features), features, importance))


@pytest.fixture(scope="module")
def run():
    """One training run of the learner's loop, shared by the checks below."""
    with seeded(0):
        model = ref.ToyModel(CFG)
    probability = ref.feature_probability(CFG.n_instances, CFG.n_features, 0.05)
    importance = importance_for(CFG.n_features, 0.9)
    start = copy.deepcopy(model)
    recorder = _Recorder(model)
    with seeded(1):
        losses = run_learner(submitted(), model, probability, importance, steps=STEPS, batch_size=BATCH, lr=LR,
                             batch_fn=recorder.batch_fn, loss_fn=recorder.loss_fn, progress=False,
                             time_limit=30.0)
    return start, model, probability, importance, losses, recorder


def test_loop_uses_its_arguments(run):
    """draws a fresh batch with batch_fn and computes loss_fn at every step, returning one float per step"""
    _, _, _, _, losses, recorder = run
    expect(len(recorder.batch_calls) == STEPS, f"With steps={STEPS}, batch_fn should be called once per step "
           f"({STEPS} times); yours called it {len(recorder.batch_calls)} times. A new batch every step keeps "
           "the model from fitting one batch.")
    expect(all(b == BATCH for b in recorder.batch_calls), "Call batch_fn(probability, batch_size) with the "
           "batch_size argument.")
    expect(recorder.loss_calls == STEPS, f"loss_fn should be called once per step; yours called it "
           f"{recorder.loss_calls} times.")
    expect(isinstance(losses, list) and len(losses) == STEPS, f"Return a list with one loss per step ({STEPS} "
           f"entries); got {type(losses).__name__} of length {len(losses) if hasattr(losses, '__len__') else '?'}.")
    expect(all(isinstance(v, float) for v in losses), "Record each loss as a Python float with loss.item(): "
           "keeping tensors keeps every step's graph alive.")


def test_gradients_cleared(run):
    """zeroes the gradients before each backward pass"""
    *_, recorder = run
    expect(not recorder.stale_gradient_at_backward, "Gradients were not zeroed: at a backward pass the parameters "
           "still held the previous step's gradients, so they accumulate. Call optimizer.zero_grad() every step.")


def test_loss_goes_down_like_the_reference(run):
    """training lowers the loss about as much as the reference loop does"""
    start, model, probability, importance, _, _ = run
    changed = any(not torch.equal(a, b) for a, b in zip(start.parameters(), model.parameters()))
    expect(changed, "The parameters did not change: call optimizer.step() after loss.backward(), with an "
           "optimizer built on model.parameters().")
    reference_model = copy.deepcopy(start)
    with seeded(1):
        ref.train_toy_model(reference_model, probability, importance, steps=STEPS, batch_size=BATCH, lr=LR)
    before = _eval_loss(start, probability, importance)
    after = _eval_loss(model, probability, importance)
    target = _eval_loss(reference_model, probability, importance)
    if after > before:
        fail(f"The loss went up during training (from {before:.4f} to {after:.4f}): the optimizer must minimise "
             "the loss (no minus sign, and backward on the loss itself).")
    expect(before - after >= 0.5 * (before - target),
           f"Training lowered the loss from {before:.4f} to {after:.4f}, while the reference loop reaches "
           f"{target:.4f} in the same number of steps. Use Adam with the lr argument and a fresh batch per step.")
