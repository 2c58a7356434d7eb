"""Grader for ch3.patch_head_output."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import reference as ref
from circuitlab.ch3.grading_support import (MODEL_IDS, MODEL_NAMES, batch_for, caches_for, expect_close_or_diagnose,
                                            metric_for, model_named, run_on_model, to_float_tensor, where)
from circuitlab.grading.testing import expect_tensor, submitted

BATCH = dict(mixed=True)  # right-padded prompts of several templates: end positions differ


def _variant(model, tokens, source_cache, metric, positions):
    """Head patching restricted to some positions (a mistake the learner can make)."""
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(model.cfg.n_heads):
            def hook(z, hook, head=head):
                z[:, positions, head] = source_cache[name][:, positions, head]
                return z
            out[layer, head] = metric(model.run_with_hooks(tokens, fwd_hooks=[(name, hook)])).item()
    return out


@lru_cache(maxsize=None)
def _expected(name):
    batch, (_, clean_cache, _, _) = batch_for(name, **BATCH), caches_for(name, **BATCH)
    with torch.no_grad():
        return ref.patch_head_output(model_named(name), batch.corrupt_tokens, clean_cache, metric_for(name, **BATCH))


@pytest.mark.parametrize("name", MODEL_NAMES, ids=MODEL_IDS)
def test_matches_reference(name):
    """(layer, head) grid of the normalised metric with one head's clean output patched in"""
    model = model_named(name)
    batch = batch_for(name, **BATCH)
    _, clean_cache, _, corrupt_cache = caches_for(name, **BATCH)
    metric = metric_for(name, **BATCH)
    expected = _expected(name)
    out = run_on_model(submitted(), name, batch.corrupt_tokens, clean_cache, metric, cache_names=("clean_cache",))
    what = f"your (layer, head) grid {where(name, batch)}"
    out = expect_tensor(to_float_tensor(out, "your result"), shape=(model.cfg.n_layers, model.cfg.n_heads), what=what)
    mistakes = lambda: {
        "Every entry is 1: you patched clean activations into the clean run. Run the corrupted tokens and "
        "patch the clean head outputs into them.": torch.ones_like(expected),
        "You patched the wrong position: only the last one. A head's output is patched at every position "
        "(z[:, :, head]); with right-padded prompts position -1 is padding for the shorter ones.":
            _variant(model, batch.corrupt_tokens, clean_cache, metric, [-1]),
        "You patched corrupted head outputs into the clean run; this exercise runs the corrupted tokens and "
        "patches clean outputs in.": _variant(model, batch.tokens, corrupt_cache, metric, slice(None)),
    }
    expect_close_or_diagnose(out, expected, what=what, atol=1e-4, rtol=1e-3, mistakes=mistakes,
                             hint="hook_z is (batch, pos, head, d_head): patch z[:, :, head] only.")
