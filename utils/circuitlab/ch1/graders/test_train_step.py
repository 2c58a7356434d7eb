"""Grader for ch1.train_step."""
import copy

import torch

from circuitlab.ch1.grading_support import CONFIGS, random_tokens, reference_module
from circuitlab.ch1.reference import next_token_loss
from circuitlab.grading.testing import expect, expect_close, fail, run_learner, submitted


def _setup():
    model = reference_module("DemoTransformer", CONFIGS["small"], seed=61).train()
    return model, torch.optim.AdamW(model.parameters(), lr=1e-2)


def _reference_steps(batches, zero_grad=True):
    model, optimizer = _setup()
    losses = []
    for tokens in batches:
        loss = next_token_loss(model(tokens), tokens)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return model, losses


def test_two_steps_match_reference():
    """two steps of AdamW give the reference parameters and return the losses as floats"""
    batches = [random_tokens(CONFIGS["small"], 4, 8, seed=s) for s in (62, 63)]
    model, optimizer = _setup()
    before = copy.deepcopy(model.state_dict())
    losses = []
    for tokens in batches:
        loss = run_learner(submitted(), model, optimizer, tokens)
        expect(isinstance(loss, float), f"train_step should return the loss as a Python float (loss.item()), "
               f"but returned {type(loss).__name__}.")
        losses.append(loss)
    expect(any(not torch.equal(before[k], v) for k, v in model.state_dict().items()),
           "The parameters did not change. Call optimizer.step() after loss.backward().")
    expected_model, expected_losses = _reference_steps(batches)
    no_zero_model, _ = _reference_steps(batches, zero_grad=False)
    for name, param in expected_model.named_parameters():
        mine = dict(model.named_parameters())[name]
        expect_close(mine, param, atol=1e-5, what=f"parameter {name} after two steps", mistakes={
            "Gradients accumulate across steps: call optimizer.zero_grad() before loss.backward().":
                dict(no_zero_model.named_parameters())[name],
        }, hint="Order: forward, loss, zero_grad, backward, step (one step per call).")
    expect_close(torch.tensor(losses), torch.tensor(expected_losses), atol=1e-5,
                 what="returned losses", hint="Return the loss computed before the update (loss.item()).")
