"""Grader for ch3.patch_head_pattern."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import reference as ref
from circuitlab.ch3.grading_support import (MODEL_IDS, MODEL_NAMES, batch_for, caches_for, expect_close_or_diagnose,
                                            metric_for, model_named, run_on_model, to_float_tensor, where)
from circuitlab.grading.testing import expect_tensor, submitted

BATCH = dict(mixed=True)


def _wrong_axis(model, tokens, clean_cache, metric):
    """Indexing the pattern as if the head axis came third (it is [batch, head, query, key])."""
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_pattern"
        for head in range(model.cfg.n_heads):
            def hook(pattern, hook, head=head):
                pattern[:, :, head] = clean_cache[name][:, :, head]
                return pattern
            out[layer, head] = metric(model.run_with_hooks(tokens, fwd_hooks=[(name, hook)])).item()
    return out


@lru_cache(maxsize=None)
def _expected(name):
    batch, (_, clean_cache, _, _) = batch_for(name, **BATCH), caches_for(name, **BATCH)
    with torch.no_grad():
        return ref.patch_head_pattern(model_named(name), batch.corrupt_tokens, clean_cache, metric_for(name, **BATCH))


@pytest.mark.parametrize("name", MODEL_NAMES, ids=MODEL_IDS)
def test_matches_reference(name):
    """(layer, head) grid of the normalised metric with one head's clean attention pattern patched in"""
    model = model_named(name)
    batch = batch_for(name, **BATCH)
    _, clean_cache, _, _ = caches_for(name, **BATCH)
    metric = metric_for(name, **BATCH)
    expected = _expected(name)
    out = run_on_model(submitted(), name, batch.corrupt_tokens, clean_cache, metric, cache_names=("clean_cache",))
    what = f"your (layer, head) grid {where(name, batch)}"
    out = expect_tensor(to_float_tensor(out, "your result"), shape=(model.cfg.n_layers, model.cfg.n_heads), what=what)
    mistakes = lambda: {
        "Every entry is 1: you patched clean activations into the clean run. Run the corrupted tokens.":
            torch.ones_like(expected),
        "You indexed the head on the wrong axis: hook_pattern is (batch, head, query, key), so a head is "
        "pattern[:, head].": _wrong_axis(model, batch.corrupt_tokens, clean_cache, metric),
    }
    expect_close_or_diagnose(out, expected, what=what, atol=1e-4, rtol=1e-3, mistakes=mistakes)
