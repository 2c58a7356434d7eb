"""Grader for ch3.patch_residual."""

import pytest
import torch

from circuitlab.ch3.grading_support import (MODEL_IDS, MODEL_NAMES, SECOND_CALL, expect_close_or_diagnose,
                                            run_patching_exercise, second_call_label)

# One template per model (positions line up across prompts, as in the chapter), cut to a few tokens where the
# model is deep enough to make whole prompts slow; the metric is the normalised logit difference at the last
# token kept.
# Each cut keeps S2 (the one position the corruption changes) and the token after it: a shorter cut would make
# the clean and corrupted prompts identical and the grid constant.
SETTINGS = {"offline": dict(width=12), "random": dict(template=1), "wide": dict(template=4, width=13)}


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


def _check(name, kwargs, context="", first=None):
    """Run the learner's function on ``batch_for(name, **kwargs)`` and compare it with the reference."""
    run = run_patching_exercise("patch_residual", name, kwargs, columns="position", context=context, first=first)
    model, batch, clean_cache, metric = run["model"], run["batch"], run["clean_cache"], run["metric"]
    expected, out, what = run["expected"], run["out"], run["what"]
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
    return out, expected


@pytest.mark.parametrize("name", MODEL_NAMES, ids=MODEL_IDS)
def test_matches_reference(name):
    """(layer, position) grid of the normalised metric, corrupted run with clean residual patched in"""
    _check(name, SETTINGS[name])


def test_second_call():
    """a second call on the same model, with other prompts, owes nothing to the first"""
    first, expected_first = _check("random", SETTINGS["random"])
    # The same template, so the grid has the same shape and a grid kept from the first call would fit.
    _check("random", {**SECOND_CALL, **SETTINGS["random"]}, context=f", {second_call_label()}",
           first=(first, first.clone(), expected_first))
