"""Grader for ch3.patch_head_pattern."""

import pytest
import torch

from circuitlab.ch3.grading_support import (MODEL_IDS, MODEL_NAMES, SECOND_CALL, expect_close_or_diagnose,
                                            run_patching_exercise, second_call_label)

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


def _check(name, kwargs, context="", first=None):
    """Run the learner's function on ``batch_for(name, **kwargs)`` and compare it with the reference."""
    run = run_patching_exercise("patch_head_pattern", name, kwargs, columns="head", context=context, first=first)
    model, batch, clean_cache, metric = run["model"], run["batch"], run["clean_cache"], run["metric"]
    expected, out, what = run["expected"], run["out"], run["what"]
    mistakes = lambda: {
        "Every entry is 1: you patched clean activations into the clean run. Run the corrupted tokens.":
            torch.ones_like(expected),
        "You indexed the head on the wrong axis: hook_pattern is (batch, head, query, key), so a head is "
        "pattern[:, head].": _wrong_axis(model, batch.corrupt_tokens, clean_cache, metric),
    }
    expect_close_or_diagnose(out, expected, what=what, atol=1e-4, rtol=1e-3, mistakes=mistakes)
    return out, expected


@pytest.mark.parametrize("name", MODEL_NAMES, ids=MODEL_IDS)
def test_matches_reference(name):
    """(layer, head) grid of the normalised metric with one head's clean attention pattern patched in"""
    _check(name, BATCH)


def test_second_call():
    """a second call on the same model, with other prompts, owes nothing to the first"""
    first, expected_first = _check("random", BATCH)
    _check("random", SECOND_CALL, context=f", {second_call_label()}", first=(first, first.clone(), expected_first))
