"""Grader for ch3.path_patch_to_final."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import reference as ref
from circuitlab.ch3.grading_support import (MODEL_IDS, MODEL_NAMES, SECOND_CALL, batch_for, batch_label, caches_for,
                                            expect_calls_independent, expect_close_or_diagnose, expect_grid,
                                            metric_for, model_named, run_on_model, second_call_label, where)
from circuitlab.grading.testing import submitted

BATCH = dict(mixed=True)


def _unfrozen(model, clean_tokens, corrupt_cache, metric):
    """The sender's corrupted output patched into the clean run, other heads free to react."""
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(model.cfg.n_heads):
            def hook(z, hook, head=head):
                z[:, :, head] = corrupt_cache[name][:, :, head]
                return z
            out[layer, head] = metric(model.run_with_hooks(clean_tokens, fwd_hooks=[(name, hook)])).item()
    return out


@lru_cache(maxsize=None)
def _expected(name, batch_items=tuple(BATCH.items())):
    kwargs = dict(batch_items)
    batch, (_, clean_cache, _, corrupt_cache) = batch_for(name, **kwargs), caches_for(name, **kwargs)
    with torch.no_grad():
        return ref.path_patch_to_final(model_named(name), batch.tokens, clean_cache, corrupt_cache,
                                       metric_for(name, **kwargs))


def _check(name, kwargs, context="", first=None):
    """Run the learner's function on ``batch_for(name, **kwargs)`` and compare it with the reference."""
    model = model_named(name)
    batch = batch_for(name, **kwargs)
    _, clean_cache, _, corrupt_cache = caches_for(name, **kwargs)
    metric = metric_for(name, **kwargs)
    expected = _expected(name, tuple(kwargs.items()))
    out = run_on_model(submitted(), name, batch.tokens, clean_cache, corrupt_cache, metric,
                       cache_names=("clean_cache", "corrupt_cache"), context=f", {batch_label(batch)}{context}")
    what = f"your (layer, head) grid {where(name, batch)}{context}"
    out = expect_grid(out, (model.cfg.n_layers, model.cfg.n_heads), what)
    if first is not None:
        expect_calls_independent(first, out, expected, what=what)
    mistakes = lambda: {
        "Your path patching lets the effect flow through other heads: you patched the sender but let every "
        "other head recompute its output, which is plain activation patching. Pin every other head's z to "
        "the clean cache.": _unfrozen(model, batch.tokens, corrupt_cache, metric),
        "Every entry is 1: nothing changed the clean run. The sender head must get its output from the "
        "corrupted cache.": torch.ones_like(expected),
    }
    expect_close_or_diagnose(out, expected, what=what, atol=1e-4, rtol=1e-3, mistakes=mistakes,
                             hint="Run the clean tokens; on every hook_z return the clean z, with only the sender "
                                  "head taken from the corrupted cache.")
    return out, expected


@pytest.mark.parametrize("name", MODEL_NAMES, ids=MODEL_IDS)
def test_matches_reference(name):
    """(sender layer, sender head) grid of the metric when only the direct path is corrupted"""
    _check(name, BATCH)


def test_second_call():
    """a second call on the same model, with other prompts, owes nothing to the first"""
    first, expected_first = _check("random", BATCH)
    _check("random", SECOND_CALL, context=f", {second_call_label()}", first=(first, first.clone(), expected_first))
