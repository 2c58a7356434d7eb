"""Grader for ch3.patch_residual."""
import pytest
import torch

from circuitlab.ch3.grading_support import expect_close_or_diagnose, batch_for, caches_for, metric_for, model_named, run_patching, to_float_tensor
from circuitlab.grading.testing import expect_tensor, reference, submitted

# The offline model is checked on the first 8 tokens (4 layers x 8 positions = 32 runs), the random model on
# whole prompts; the metric is the normalised logit difference at the last token kept.
SETTINGS = {"offline": dict(width=8), "random": dict()}


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


@pytest.mark.parametrize("name", ["offline", "random"], ids=["IOI model", "random model"])
def test_matches_reference(name):
    """(layer, position) grid of the normalised metric, corrupted run with clean residual patched in"""
    model, kwargs = model_named(name), SETTINGS[name]
    batch = batch_for(name, **kwargs)
    _, clean_cache, _, _ = caches_for(name, **kwargs)
    metric = metric_for(name, **kwargs)
    out = run_patching(submitted(), model, batch.corrupt_tokens, clean_cache, metric)
    out = expect_tensor(to_float_tensor(out, "your result"), shape=(model.cfg.n_layers, batch.tokens.shape[1]),
                        what="your (layer, position) grid")
    with torch.no_grad():
        expected = reference()(model, batch.corrupt_tokens, clean_cache, metric)
        mistakes = lambda: {
            "Every entry is 1: you patched clean activations into the clean run. Run the corrupted tokens and "
            "patch the clean residual stream into them.": torch.ones_like(expected),
            "Every entry is 0: nothing was patched (is your hook returning the patched tensor, and is it attached "
            "to blocks.{layer}.hook_resid_pre?).": torch.zeros_like(expected),
            "You patched hook_resid_post (the output of each layer); the grid is indexed by the input of each "
            "layer, hook_resid_pre.": _patch_post(model, batch.corrupt_tokens, clean_cache, metric),
        }
    expect_close_or_diagnose(out, expected, what="your (layer, position) grid", atol=1e-4, rtol=1e-3, mistakes=mistakes,
                 hint="Check the position you patch: resid[:, pos] (all prompts, one position), and that each run "
                      "patches exactly one (layer, position).")
