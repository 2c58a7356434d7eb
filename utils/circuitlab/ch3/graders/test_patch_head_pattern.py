"""Grader for ch3.patch_head_pattern."""
import pytest
import torch

from circuitlab.ch3.grading_support import expect_close_or_diagnose, batch_for, caches_for, metric_for, model_named, run_patching, to_float_tensor
from circuitlab.grading.testing import expect_tensor, reference, submitted


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


@pytest.mark.parametrize("name", ["offline", "random"], ids=["IOI model", "random model"])
def test_matches_reference(name):
    """(layer, head) grid of the normalised metric with one head's clean attention pattern patched in"""
    model = model_named(name)
    batch = batch_for(name)
    _, clean_cache, _, _ = caches_for(name)
    metric = metric_for(name)
    out = run_patching(submitted(), model, batch.corrupt_tokens, clean_cache, metric)
    out = expect_tensor(to_float_tensor(out, "your result"), shape=(model.cfg.n_layers, model.cfg.n_heads),
                        what="your (layer, head) grid")
    with torch.no_grad():
        expected = reference()(model, batch.corrupt_tokens, clean_cache, metric)
        mistakes = lambda: {
            "Every entry is 1: you patched clean activations into the clean run. Run the corrupted tokens.":
                torch.ones_like(expected),
            "You indexed the head on the wrong axis: hook_pattern is (batch, head, query, key), so a head is "
            "pattern[:, head].": _wrong_axis(model, batch.corrupt_tokens, clean_cache, metric),
        }
    expect_close_or_diagnose(out, expected, what="your (layer, head) grid", atol=1e-4, rtol=1e-3, mistakes=mistakes)
