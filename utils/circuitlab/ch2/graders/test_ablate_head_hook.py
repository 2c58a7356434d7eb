"""Grader for ch2.ablate_head_hook."""
from functools import partial

import pytest
import torch

from circuitlab.ch2.models import cached_run, model_named
from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


def _apply(hook_fn, z: torch.Tensor, **kwargs) -> torch.Tensor:
    """Call the hook the way TransformerLens does: the returned tensor wins, None keeps the (edited) input."""
    z = z.clone()
    result = run_learner(lambda: hook_fn(z, None, **kwargs), what="your ablate_head_hook")
    return z if result is None else result


def _wrong_axes(z: torch.Tensor, head: int, value) -> dict:
    everything, position, batch = z.clone(), z.clone(), z.clone()
    everything[:] = value if not torch.is_tensor(value) else value[None, :, None, :]
    position[:, head] = 0.0 if not torch.is_tensor(value) else 0.0
    batch[head] = 0.0
    return {
        "You ablated every head: only z[:, :, head, :] should change.": everything,
        "You indexed the wrong axis (z[:, head] is a position); hook_z is (batch, seq, head, d_head), so the "
        "head axis is the third: z[:, :, head, :].": position,
        "You indexed the wrong axis (z[head] is a batch entry); the head axis is the third: z[:, :, head, :].": batch,
        "Your hook left z unchanged: edit z in place and/or return the edited tensor.": z,
    }


@pytest.mark.parametrize("head", [1, 3])
def test_zero_ablation(head):
    """zeroes exactly one head's z, leaving the others alone"""
    with seeded(2):
        z = torch.randn(4, 6, 5, 3)
    out = _apply(submitted(), z, head=head)
    expected = _apply(reference(), z, head=head)
    expect_close(out, expected, what="ablated z", mistakes=_wrong_axes(z, head, 0.0))


def test_replacement():
    """writes the replacement (one row per position) into that head for every batch entry"""
    with seeded(3):
        z = torch.randn(4, 6, 5, 3)
        replacement = torch.randn(6, 3)
    out = _apply(submitted(), z, head=2, replacement=replacement)
    expected = _apply(reference(), z, head=2, replacement=replacement)
    mistakes = _wrong_axes(z, 2, replacement)
    zeroed = z.clone()
    zeroed[:, :, 2] = 0.0
    mistakes["You zeroed the head even though a replacement was given: write the replacement instead."] = zeroed
    expect_close(out, expected, what="ablated z", mistakes=mistakes)


@pytest.mark.parametrize("name, layer, head", [("shipped", 1, 0), ("random", 0, 3)])
def test_inside_the_model(name, layer, head):
    """used as a hook on blocks.{layer}.attn.hook_z, it changes the logits as the reference does"""
    model = model_named(name)
    tokens, _, _ = cached_run(name, "repeated")
    hook_name = f"blocks.{layer}.attn.hook_z"
    learner = partial(submitted(), head=head)
    out = run_learner(lambda: model.run_with_hooks(tokens, fwd_hooks=[(hook_name, learner)]), what="your hook")
    expected = model.run_with_hooks(tokens, fwd_hooks=[(hook_name, partial(reference(), head=head))])
    expect_close(out, expected, atol=1e-4, what="logits with your hook")
