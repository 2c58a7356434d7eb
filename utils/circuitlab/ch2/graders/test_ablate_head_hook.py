"""Grader for ch2.ablate_head_hook."""
from functools import partial

import pytest
import torch
from transformer_lens.hook_points import HookPoint

from circuitlab.ch2.grading_support import call_with_model, expect_matches, on_case
from circuitlab.ch2.models import cached_run, describe_model, model_named
from circuitlab.grading.testing import reference, run_learner, seeded, submitted

AXES = ["batch", "position", "head", "d_head"]


def _hook_point(layer: int) -> HookPoint:
    """A real hook point named as the model names its hook_z point, so a hook may read hook.name or hook.layer()."""
    point = HookPoint()
    point.name = model_named("shipped").hook_dict[f"blocks.{layer}.attn.hook_z"].name
    return point


def _apply(hook_fn, z: torch.Tensor, layer: int = 0, **kwargs) -> torch.Tensor:
    """Call the hook the way TransformerLens does: the returned tensor wins, None keeps the (edited) input."""
    z = z.clone()
    result = run_learner(lambda: hook_fn(z, _hook_point(layer), **kwargs), what="your ablate_head_hook")
    return z if result is None else result


def _wrong_axes(z: torch.Tensor, head: int, value) -> dict:
    everything, position, batch = z.clone(), z.clone(), z.clone()
    everything[:] = value if not torch.is_tensor(value) else value[None, :, None, :]
    mistakes = {"You ablated every head: only z[:, :, head, :] should change.": everything}
    if head < z.shape[1]:
        position[:, head] = 0.0
        mistakes["You indexed the wrong axis (z[:, head] is a position); hook_z is (batch, seq, head, d_head), so "
                 "the head axis is the third: z[:, :, head, :]."] = position
    if head < z.shape[0]:
        batch[head] = 0.0
        mistakes["You indexed the wrong axis (z[head] is a batch entry); the head axis is the third: "
                 "z[:, :, head, :]."] = batch
    mistakes["Your hook left z unchanged: edit z in place and/or return the edited tensor."] = z
    return mistakes


# (batch, seq, heads, d_head, head): batch 1, and a last head index.
SHAPES = [(4, 6, 5, 3, 1), (1, 5, 3, 4, 2), (2, 1, 4, 2, 0)]


@pytest.mark.parametrize("batch, seq, heads, d_head, head", SHAPES, ids=["4x6x5x3", "batch1", "one-position"])
def test_zero_ablation(batch, seq, heads, d_head, head):
    """zeroes exactly one head's z, leaving the others alone"""
    with seeded(2):
        z = torch.randn(batch, seq, heads, d_head)
    expected = _apply(reference(), z, head=head)
    with on_case(f"a random z of shape {tuple(z.shape)} (batch, seq, head, d_head), head={head}"):
        out = _apply(submitted(), z, head=head)
        expect_matches(out, expected, axes=AXES, what="ablated z", mistakes=_wrong_axes(z, head, 0.0))


@pytest.mark.parametrize("batch", [4, 1])
def test_replacement(batch):
    """writes the replacement (one row per position) into that head for every batch entry"""
    with seeded(3):
        z = torch.randn(batch, 6, 5, 3)
        replacement = torch.randn(6, 3)
    expected = _apply(reference(), z, head=2, replacement=replacement)
    with on_case(f"a random z of shape {tuple(z.shape)}, head=2, a replacement of shape (6, 3)"):
        out = _apply(submitted(), z, head=2, replacement=replacement.clone())
        mistakes = _wrong_axes(z, 2, replacement)
        zeroed = z.clone()
        zeroed[:, :, 2] = 0.0
        mistakes["You zeroed the head even though a replacement was given: write the replacement instead."] = zeroed
        expect_matches(out, expected, axes=AXES, what="ablated z", mistakes=mistakes)


@pytest.mark.parametrize("name, layer, head, batch", [("shipped", 1, 0, 4), ("random", 2, 2, 1), ("wide", 0, 4, 3)])
def test_inside_the_model(name, layer, head, batch):
    """used as a hook on blocks.{layer}.attn.hook_z, it changes the logits as the reference does"""
    model = model_named(name)
    tokens, _, _ = cached_run(name, "repeated", batch=batch, half_len=6)
    hook_name = f"blocks.{layer}.attn.hook_z"
    with torch.no_grad():
        expected = model.run_with_hooks(tokens, fwd_hooks=[(hook_name, partial(reference(), head=head))])
    with on_case(f"{describe_model(name)}, hook on {hook_name}, head {head}, batch {batch}"):
        learner = partial(submitted(), head=head)
        out = call_with_model(lambda m: m.run_with_hooks(tokens, fwd_hooks=[(hook_name, learner)]), model)
        expect_matches(out, expected, axes=["batch", "position", "vocab"], atol=1e-4, what="logits with your hook")
