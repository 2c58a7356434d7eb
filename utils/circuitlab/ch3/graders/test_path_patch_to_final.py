"""Grader for ch3.path_patch_to_final."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import reference as ref
from circuitlab.ch3.grading_support import (MODEL_IDS, MODEL_NAMES, batch_for, caches_for, expect_close_or_diagnose,
                                            metric_for, model_named, run_on_model, to_float_tensor, where)
from circuitlab.grading.testing import expect_tensor, submitted

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
def _expected(name):
    batch, (_, clean_cache, _, corrupt_cache) = batch_for(name, **BATCH), caches_for(name, **BATCH)
    with torch.no_grad():
        return ref.path_patch_to_final(model_named(name), batch.tokens, clean_cache, corrupt_cache,
                                       metric_for(name, **BATCH))


@pytest.mark.parametrize("name", MODEL_NAMES, ids=MODEL_IDS)
def test_matches_reference(name):
    """(sender layer, sender head) grid of the metric when only the direct path is corrupted"""
    model = model_named(name)
    batch = batch_for(name, **BATCH)
    _, clean_cache, _, corrupt_cache = caches_for(name, **BATCH)
    metric = metric_for(name, **BATCH)
    expected = _expected(name)
    out = run_on_model(submitted(), name, batch.tokens, clean_cache, corrupt_cache, metric,
                       cache_names=("clean_cache", "corrupt_cache"))
    what = f"your (layer, head) grid {where(name, batch)}"
    out = expect_tensor(to_float_tensor(out, "your result"), shape=(model.cfg.n_layers, model.cfg.n_heads), what=what)
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
