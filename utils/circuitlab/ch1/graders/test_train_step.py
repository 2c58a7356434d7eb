"""Grader for ch1.train_step: step by step against the reference, on the same weights, batches and optimiser."""
from typing import Callable

import pytest
import torch

from circuitlab.ch1.grading_support import CONFIGS, random_tokens, reference_module
from circuitlab.ch1.reference import next_token_loss
from circuitlab.grading.testing import expect, expect_close, expect_python_float, fail, run_learner, seeded, submitted

CFG = CONFIGS["wide"]
# Three batches of different sizes, batch 1 included.
BATCHES = [random_tokens(CFG, batch, seq, seed=s) for batch, seq, s in ((4, 8, 62), (1, 6, 63), (3, 5, 64))]
OPTIMISERS: dict[str, Callable] = {
    # Plain SGD moves each weight by its gradient, so a gradient that is off by any factor shows up.
    "SGD(lr=0.5)": lambda params: torch.optim.SGD(params, lr=0.5),
    "AdamW(lr=1e-2)": lambda params: torch.optim.AdamW(params, lr=1e-2),
}


def _setup(optimiser: str):
    """A model in train mode whose parameters hold leftover gradients from earlier work, and a fresh optimiser."""
    model = reference_module("DemoTransformer", CFG, seed=61).train()
    with seeded(65):
        for param in model.parameters():
            param.grad = torch.randn_like(param)
    return model, OPTIMISERS[optimiser](model.parameters())


def _reference_step(model, optimizer, tokens, kind: str = "right") -> float:
    loss = next_token_loss(model(tokens), tokens)
    if kind != "no_zero_grad":
        optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def _reference_run(optimiser: str, kind: str = "right"):
    """Parameters (name -> tensor) and the returned loss after each step."""
    model, optimizer = _setup(optimiser)
    states, losses = [], []
    for tokens in BATCHES:
        losses.append(_reference_step(model, optimizer, tokens, kind))
        states.append({name: p.detach().clone() for name, p in model.named_parameters()})
    return states, losses


@pytest.mark.parametrize("optimiser", list(OPTIMISERS))
def test_steps_match_reference(optimiser):
    """each of three steps gives the reference's parameters and returns the loss before the update as a float"""
    expected_states, expected_losses = _reference_run(optimiser)
    no_zero_states, _ = _reference_run(optimiser, "no_zero_grad")
    model, optimizer = _setup(optimiser)
    start = {name: p.detach().clone() for name, p in model.named_parameters()}
    for step, tokens in enumerate(BATCHES):
        where = f"step {step + 1} with {optimiser} on a batch of shape {tuple(tokens.shape)}"
        loss = run_learner(submitted(), model, optimizer, tokens)
        loss = expect_python_float(loss, f"the loss train_step returned at {where}")
        expect(model.training, f"After {where} the model is in eval mode: train_step trains, so leave the model in "
                               "train mode (do not call model.eval() inside it).")
        params = dict(model.named_parameters())
        if step == 0 and all(torch.equal(params[name], value) for name, value in start.items()):
            if all(p.grad is None or not bool(p.grad.any()) for p in params.values()):
                fail("The parameters did not change and no gradients are left: optimizer.zero_grad() runs before "
                     "loss.backward() (it clears the gradients backward has just computed), then optimizer.step().")
            fail("The parameters did not change. Call optimizer.step() after loss.backward().")
        for name, want in expected_states[step].items():
            expect_close(params[name], want, atol=1e-6, rtol=1e-4, what=f"parameter {name} after {where}", mistakes={
                "Gradients accumulate across steps (and the model came with leftover gradients): call "
                "optimizer.zero_grad() before loss.backward().": no_zero_states[step][name],
            }, hint="Order: forward, loss, zero_grad, backward, step (one step per call).")
        expect_close(torch.tensor(loss, dtype=torch.float64), torch.tensor(expected_losses[step], dtype=torch.float64),
                     atol=1e-7, rtol=1e-5, what=f"the loss returned at {where}",
                     hint="Return the loss computed before the update (loss.item()), of the batch you were given.")
