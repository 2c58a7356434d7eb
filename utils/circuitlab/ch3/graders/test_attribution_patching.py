"""Grader for ch3.attribution_patching."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import reference as ref
from circuitlab.ch3.grading_support import (MODEL_IDS, MODEL_NAMES, SECOND_CALL, batch_for, batch_label,
                                            expect_calls_independent, expect_close_or_diagnose, expect_grid,
                                            metric_for, model_named, run_on_model, second_call_label, where)
from circuitlab.grading.testing import submitted

BATCH = dict(mixed=True)


def _direct_path_only(model, clean_tokens, corrupt_tokens, metric) -> torch.Tensor:
    """The answer a detached leaf in every layer's hook gives: each head's direct path to the logits only."""
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, clean = model.run_with_cache(clean_tokens, names_filter=lambda name: name in names)
    leaves = {}

    def as_leaf(z, hook):
        leaves[hook.name] = z.detach().clone().requires_grad_(True)
        return leaves[hook.name]

    with torch.enable_grad():
        value = metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(lambda name: name in names, as_leaf)]))
        grads = torch.autograd.grad(value, [leaves[name] for name in names])
    return torch.stack([((clean[name] - leaves[name].detach()) * grad).sum(dim=(0, 1, 3))
                        for name, grad in zip(names, grads)])


@lru_cache(maxsize=None)
def _attribution(name, swapped=False, batch_items=tuple(BATCH.items())):
    kwargs = dict(batch_items)
    batch, metric = batch_for(name, **kwargs), metric_for(name, **kwargs)
    runs = (batch.corrupt_tokens, batch.tokens) if swapped else (batch.tokens, batch.corrupt_tokens)
    model = model_named(name)
    try:
        return ref.attribution_patching(model, *runs, metric)
    finally:
        model.reset_hooks()
        model.zero_grad(set_to_none=True)


def _check(name, kwargs, context="", first=None):
    """Run the learner's function on ``batch_for(name, **kwargs)`` (with gradients off, as in the notebook) and
    compare it with the reference."""
    model = model_named(name)
    batch = batch_for(name, **kwargs)
    metric = metric_for(name, **kwargs)
    items = tuple(kwargs.items())
    expected = _attribution(name, batch_items=items)
    out = run_on_model(submitted(), name, batch.tokens, batch.corrupt_tokens, metric, gradients=True,
                       context=f", {batch_label(batch)}{context}")
    what = f"your (layer, head) scores {where(name, batch)}{context}"
    out = expect_grid(out, (model.cfg.n_layers, model.cfg.n_heads), what)
    if first is not None:
        expect_calls_independent(first, out, expected, what=what)

    def mistakes():
        try:
            return {
                "Your scores have the opposite sign: the difference is z_clean - z_corrupt (the change a clean "
                "patch makes to the corrupted run).": -expected,
                "You took the gradient at the clean run; attribution patching linearises around the corrupted "
                "run, the run being patched.": -_attribution(name, swapped=True, batch_items=items),
                "Your gradient covers only each head's direct path to the logits: every layer's z was detached, "
                "which cuts the paths through later heads. Keep z in the graph (z.clone(), no detach) so the "
                "gradient is the full derivative patching would feel.":
                    _direct_path_only(model, batch.tokens, batch.corrupt_tokens, metric),
            }
        finally:
            model.reset_hooks()
            model.zero_grad(set_to_none=True)

    expect_close_or_diagnose(out, expected, what=what, atol=1e-4, rtol=1e-3, mistakes=mistakes,
                             hint="Sum (z_clean - z_corrupt) * grad over batch, positions and d_head, once per head.")
    return out, expected


@pytest.mark.parametrize("name", MODEL_NAMES, ids=MODEL_IDS)
def test_matches_reference(name):
    """(layer, head) attribution scores: (z_clean - z_corrupt) . gradient at the corrupted run"""
    _check(name, BATCH)


def test_second_call():
    """a second call on the same model, with other prompts, owes nothing to the first"""
    first, expected_first = _check("offline", BATCH)
    _check("offline", SECOND_CALL, context=f", {second_call_label()}", first=(first, first.clone(), expected_first))
