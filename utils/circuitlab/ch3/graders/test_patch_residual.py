"""Grader for ch3.patch_residual."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import reference as ref
from circuitlab.ch3.grading_support import (MODEL_IDS, MODEL_NAMES, batch_for, caches_for, expect_close_or_diagnose,
                                            metric_for, model_named, run_on_model, to_float_tensor, where)
from circuitlab.grading.testing import expect_tensor, submitted

# One template per model (positions line up across prompts, as in the chapter), cut to a few tokens where the
# model is deep enough to make whole prompts slow; the metric is the normalised logit difference at the last
# token kept.
SETTINGS = {"offline": dict(width=8), "random": dict(template=1), "wide": dict(template=4, width=7)}


def _patch_post(model, corrupt_tokens, clean_cache, metric):
    """The mistake of patching hook_resid_post (the output of the layer) instead of hook_resid_pre."""
    out = torch.zeros(model.cfg.n_layers, corrupt_tokens.shape[1])
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.hook_resid_post"
        for pos in range(corrupt_tokens.shape[1]):
            def hook(resid, hook, pos=pos):
                resid[:, pos] = clean_cache[name][:, pos]
                return resid
            out[layer, pos] = metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(name, hook)])).item()
    return out


@lru_cache(maxsize=None)
def _expected(name):
    batch, (_, clean_cache, _, _) = batch_for(name, **SETTINGS[name]), caches_for(name, **SETTINGS[name])
    with torch.no_grad():
        return ref.patch_residual(model_named(name), batch.corrupt_tokens, clean_cache, metric_for(name, **SETTINGS[name]))


@pytest.mark.parametrize("name", MODEL_NAMES, ids=MODEL_IDS)
def test_matches_reference(name):
    """(layer, position) grid of the normalised metric, corrupted run with clean residual patched in"""
    model, kwargs = model_named(name), SETTINGS[name]
    batch = batch_for(name, **kwargs)
    _, clean_cache, _, _ = caches_for(name, **kwargs)
    metric = metric_for(name, **kwargs)
    expected = _expected(name)
    out = run_on_model(submitted(), name, batch.corrupt_tokens, clean_cache, metric, cache_names=("clean_cache",))
    what = f"your (layer, position) grid {where(name, batch)}"
    out = expect_tensor(to_float_tensor(out, "your result"), shape=(model.cfg.n_layers, batch.tokens.shape[1]),
                        what=what)
    mistakes = lambda: {
        "Every entry is 1: you patched clean activations into the clean run. Run the corrupted tokens and "
        "patch the clean residual stream into them.": torch.ones_like(expected),
        "Every entry is 0: nothing was patched (is your hook returning the patched tensor, and is it attached "
        "to blocks.{layer}.hook_resid_pre?).": torch.zeros_like(expected),
        "You patched hook_resid_post (the output of each layer); the grid is indexed by the input of each "
        "layer, hook_resid_pre.": _patch_post(model, batch.corrupt_tokens, clean_cache, metric),
    }
    expect_close_or_diagnose(out, expected, what=what, atol=1e-4, rtol=1e-3, mistakes=mistakes,
                             grid_axes=("layer", "position"),
                             hint="Check the position you patch: resid[:, pos] (all prompts, one position), and "
                                  "that each run patches exactly one (layer, position).")
