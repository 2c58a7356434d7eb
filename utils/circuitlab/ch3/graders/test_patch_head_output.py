"""Grader for ch3.patch_head_output."""

import pytest
import torch

from circuitlab.ch3.grading_support import (MODEL_IDS, MODEL_NAMES, SECOND_CALL, expect_close_or_diagnose,
                                            run_patching_exercise, second_call_label)

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


def _check(name, kwargs, context="", first=None):
    """Run the learner's function on ``batch_for(name, **kwargs)`` and compare it with the reference."""
    run = run_patching_exercise("patch_head_output", name, kwargs, columns="head", context=context, first=first)
    model, batch, clean_cache, metric = run["model"], run["batch"], run["clean_cache"], run["metric"]
    corrupt_cache, expected, out, what = run["corrupt_cache"], run["expected"], run["out"], run["what"]
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
    return out, expected


@pytest.mark.parametrize("name", MODEL_NAMES, ids=MODEL_IDS)
def test_matches_reference(name):
    """(layer, head) grid of the normalised metric with one head's clean output patched in"""
    _check(name, BATCH)


def test_second_call():
    """a second call on the same model, with other prompts, owes nothing to the first"""
    first, expected_first = _check("random", BATCH)
    _check("random", SECOND_CALL, context=f", {second_call_label()}", first=(first, first.clone(), expected_first))
