"""Grader for ch5.train_toy_model.

The learner's loop and the reference loop train copies of the same model on the same fixed
batches; their per-step losses and final parameters must agree to a tight relative tolerance.
A loss that first differs at step 0 points at the loss, at step 1 at the first update, later at
the optimizer's memory.
"""
import copy

import pytest
import torch

from circuitlab.ch5 import reference as ref
from circuitlab.grading.lent import BatchLossRecorder
from circuitlab.grading.testing import expect, fail, run_learner, seeded, submitted

STEPS = 12
RTOL = 1e-4  # the two loops run the same operations; only the order of float additions may differ

CASES = {
    # name: (model class, (n_instances, n_features, n_hidden), importance shape, batch_size, lr, leftover grads)
    "ToyModel with 2 instances of 5 features in 2 dimensions, importance per feature, batch_size=32, lr=0.01":
        ("ToyModel", (2, 5, 2), "feat", 32, 1e-2, False),
    "ToyModel with 1 instance of 3 features in 2 dimensions, importance per instance, batch_size=1, lr=0.003, "
    "gradients left over from before training":
        ("ToyModel", (1, 3, 2), "inst", 1, 3e-3, True),
    "NeuronModel with 3 instances of 6 features in 4 neurons, importance per feature, batch_size=8, lr=0.005":
        ("NeuronModel", (3, 6, 4), "feat", 8, 5e-3, False),
}


def _setup(case):
    kind, (n_inst, n_feat, n_hidden), importance_shape, batch_size, lr, leftover = CASES[case]
    cfg = ref.ToyConfig(n_inst, n_feat, n_hidden)
    with seeded(n_feat):
        model = getattr(ref, kind)(cfg)
        probability = ref.feature_probability(n_inst, n_feat, 0.1)
        importance = 0.5 + torch.rand(n_feat if importance_shape == "feat" else (n_inst, n_feat))
        batches = [ref.generate_batch(probability, batch_size) for _ in range(STEPS + 4)]
    return model.train(), probability, importance, batch_size, lr, batches, leftover


def _reference_losses(model, probability, importance, batch_size, lr, batches, *, optimizer="adam",
                      fresh_optimizer=False, zero_first=True):
    """The reference loop, or a variant of it that reproduces a known mistake."""
    model = copy.deepcopy(model)
    make = {"adam": lambda: torch.optim.Adam(model.parameters(), lr=lr),
            "sgd": lambda: torch.optim.SGD(model.parameters(), lr=lr),
            "adamw": lambda: torch.optim.AdamW(model.parameters(), lr=lr),
            "adam default lr": lambda: torch.optim.Adam(model.parameters())}[optimizer]
    opt = make()
    losses = []
    for step in range(STEPS):
        if fresh_optimizer:
            opt = make()
        features = batches[step].clone()
        loss = ref.importance_weighted_loss(model(features), features, importance)
        if zero_first:
            opt.zero_grad()
        loss.backward()
        opt.step()
        if not zero_first:
            opt.zero_grad()
        losses.append(loss.item())
    return losses, model


@pytest.fixture(scope="module", params=list(CASES), ids=["ToyModel 2x5->2", "ToyModel 1x3->2, batch 1", "NeuronModel 3x6->4"])
def run(request):
    """One run of the learner's loop and of the reference loop per case, shared by the checks below."""
    case = request.param
    model, probability, importance, batch_size, lr, batches, leftover = _setup(case)
    expected_losses, expected_model = _reference_losses(model, probability, importance, batch_size, lr, batches)
    start = copy.deepcopy(model)
    learner_model = copy.deepcopy(model)
    if leftover:  # as if the notebook had run a backward pass on this model before (deepcopy drops .grad)
        with seeded(2):
            for p in learner_model.parameters():
                p.grad = torch.randn_like(p)
    recorder = BatchLossRecorder(learner_model, batches)
    with seeded(1):
        try:
            losses = run_learner(submitted(), learner_model, probability.clone(), importance.clone(), steps=STEPS,
                                 batch_size=batch_size, lr=lr, batch_fn=recorder.batch_fn,
                                 loss_fn=recorder.loss_fn, progress=False, time_limit=30.0)
        except Exception as exc:  # kept for each check to report
            losses = exc
    return dict(case=case, start=start, model=learner_model, probability=probability, importance=importance,
                batch_size=batch_size, lr=lr, batches=batches, losses=losses, recorder=recorder,
                expected_losses=expected_losses, expected_model=expected_model)


def _losses(run):
    if isinstance(run["losses"], BaseException):
        raise run["losses"]
    return run["losses"]


def _on(run):
    return f"On {run['case']}: "


def test_returns_one_float_per_step(run):
    """returns a list with one Python float per step (loss.item())"""
    losses = _losses(run)
    prefix = _on(run)
    expect(isinstance(losses, list), f"{prefix}return a list of losses; got {type(losses).__name__}.")
    expect(len(losses) == STEPS, f"{prefix}with steps={STEPS}, return {STEPS} losses (one per step); got "
           f"{len(losses)}.")
    kinds = {type(v).__name__ for v in losses if not isinstance(v, float) or isinstance(v, torch.Tensor)}
    expect(not kinds, f"{prefix}record each loss as a Python float with loss.item(); your list holds "
           f"{', '.join(sorted(kinds))} (a tensor keeps every step's graph alive).")


def test_loop_uses_its_arguments(run):
    """draws a fresh batch with batch_fn(probability, batch_size) and calls loss_fn once per step"""
    _losses(run)
    recorder, prefix = run["recorder"], _on(run)
    expect(len(recorder.batch_sizes) == STEPS, f"{prefix}with steps={STEPS}, batch_fn should be called once per "
           f"step ({STEPS} times); yours called it {len(recorder.batch_sizes)} times. A new batch every step keeps "
           "the model from fitting one batch.")
    expect(all(b == run["batch_size"] for b in recorder.batch_sizes), f"{prefix}call batch_fn(probability, "
           f"batch_size) with the batch_size argument ({run['batch_size']}); yours asked for "
           f"{sorted(set(recorder.batch_sizes))}.")
    expect(recorder.loss_calls == STEPS, f"{prefix}loss_fn should be called once per step; yours called it "
           f"{recorder.loss_calls} times.")


def test_gradients_cleared(run):
    """zeroes the gradients before each backward pass (the model may arrive with gradients left over)"""
    _losses(run)
    stale, prefix = run["recorder"].stale_at, _on(run)
    if not stale:
        return
    if stale == [0]:
        fail(f"{prefix}at the first backward pass the model still held gradients from before training. Zero the "
             "gradients before loss.backward() (not only after optimizer.step()): a model handed to the loop "
             "may carry old gradients.")
    later = [call for call in stale if call > 0]
    fail(f"{prefix}gradients were not zeroed: at backward pass {later[0]} the parameters "
         "still held the previous step's gradients, so they accumulate. Call optimizer.zero_grad() every step.")


def test_matches_the_reference_step_by_step(run):
    """on the same start and the same batches, every step's loss and the final weights equal the reference loop's"""
    losses = _losses(run)
    prefix = _on(run)
    if not (isinstance(losses, list) and len(losses) == STEPS and all(isinstance(v, (int, float)) for v in losses)):
        fail(f"{prefix}the losses cannot be compared: return {STEPS} Python floats.")
    start, model = run["start"], run["model"]
    changed = any(not torch.equal(a, b) for a, b in zip(start.parameters(), model.parameters()))
    expect(changed, f"{prefix}the parameters did not change: call optimizer.step() after loss.backward(), with "
           "an optimizer built on model.parameters().")
    got = torch.tensor(losses, dtype=torch.float64)
    want = torch.tensor(run["expected_losses"], dtype=torch.float64)
    close = torch.isclose(got, want, rtol=RTOL, atol=1e-12)
    if bool(close.all()):
        for (name, p), q in zip(model.named_parameters(), run["expected_model"].parameters()):
            expect(torch.allclose(p.detach(), q.detach(), rtol=RTOL, atol=1e-7),
                   f"{prefix}every loss matches, but after the last step {name} differs from the reference loop's "
                   f"(largest difference {float((p - q).abs().max()):.3g}): the last optimizer.step() is missing "
                   "or different.")
        return
    first = int((~close).nonzero()[0])
    if bool(got[-1] > got[0]) and bool(want[-1] < want[0]):
        fail(f"{prefix}the loss went up during training (from {losses[0]:.4g} to {losses[-1]:.4g}): the optimizer "
             "must minimise the loss (no minus sign, and backward on the loss itself).")
    n_instances = run["start"].cfg.n_instances
    if n_instances > 1 and torch.allclose(got * n_instances, want, rtol=RTOL):
        fail(f"{prefix}your losses are the reference's divided by the number of instances ({n_instances}): record "
             "loss.item() of the loss that loss_fn returns (its sum over instances).")
    variants = {
        "a new optimizer is created at every step, so Adam forgets its running averages: create it once, before "
        "the loop.": dict(fresh_optimizer=True),
        "the losses match plain SGD: the spec trains with torch.optim.Adam(model.parameters(), lr=lr).":
            dict(optimizer="sgd"),
        "the losses match AdamW, whose weight decay shrinks the weights: use torch.optim.Adam.":
            dict(optimizer="adamw"),
        "the losses match Adam with its default learning rate (0.001): pass lr=lr to the optimizer.":
            dict(optimizer="adam default lr"),
    }
    for message, settings in variants.items():
        variant, _ = _reference_losses(start, run["probability"], run["importance"], run["batch_size"], run["lr"],
                                       run["batches"], **settings)
        if torch.allclose(got, torch.tensor(variant, dtype=torch.float64), rtol=RTOL, atol=1e-12):
            fail(f"{prefix}{message}")
    if first == 0:
        fail(f"{prefix}the loss of step 0 is {losses[0]:.6g}, the reference's {want[0]:.6g}, before any update: "
             "record loss_fn(model(batch), batch, importance) for the batch of this step, computed before "
             "optimizer.step().")
    fail(f"{prefix}step 0's loss matches, but from step {first} on the losses differ (step {first}: yours "
         f"{losses[first]:.6g}, the reference's {want[first]:.6g}), so the updates differ. Train with "
         "torch.optim.Adam(model.parameters(), lr=lr) built once before the loop, and one zero_grad, backward "
         "and step per batch (check the lr argument reaches the optimizer).")
