"""Grader for ch3.patch_head_by_position."""

import pytest
import torch

from circuitlab.ch3 import reference as ref
from circuitlab.ch3.grading_support import (MODEL_IDS, MODEL_NAMES, SECOND_CALL, expect_close_or_diagnose,
                                            run_patching_exercise, second_call_label)

# One template per model, so positions line up across prompts; two prompts, cut to keep the (layer, head, position)
# loop short but past S2 (positions 10, 12 and 11), the one token the corruption changes. The metric is read at the
# last token kept.
SETTINGS = {"offline": dict(n=2, width=12), "random": dict(n=2, template=1, width=14), "wide": dict(n=2, template=4, width=13)}


def _patched_positions(model, tokens, source_cache, metric, positions_for):
    """Head-by-position patching where the run for position ``pos`` patches ``positions_for(pos)`` instead."""
    seq = tokens.shape[1]
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads, seq)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(model.cfg.n_heads):
            for pos in range(seq):
                def hook(z, hook, head=head, where=positions_for(pos)):
                    z[:, where, head] = source_cache[name][:, where, head]
                    return z
                out[layer, head, pos] = metric(model.run_with_hooks(tokens, fwd_hooks=[(name, hook)])).item()
    return out


def _up_to(pos):
    return slice(0, pos + 1)


def _check(name, kwargs, context="", first=None):
    """Run the learner's function on ``batch_for(name, **kwargs)`` and compare it with the reference."""
    run = run_patching_exercise("patch_head_by_position", name, kwargs, columns="head x position", context=context,
                                first=first)
    model, batch, clean_cache, metric = run["model"], run["batch"], run["clean_cache"], run["metric"]
    expected, out, what = run["expected"], run["out"], run["what"]
    seq = batch.tokens.shape[1]
    mistakes = lambda: {
        "Every entry is 1: you patched clean activations into the clean run. Run the corrupted tokens and "
        "patch the clean head output into them.": torch.ones_like(expected),
        "Every position of a head holds the same value: you patched the head at every position at once "
        "(z[:, :, head]). Patch one position per run: z[:, pos, head].":
            ref.patch_head_output(model, batch.corrupt_tokens, clean_cache, metric).unsqueeze(-1).expand(-1, -1, seq),
        "Entry [layer, head, pos] patched every position up to pos (z[:, :pos + 1, head]); patch position pos "
        "alone.": _patched_positions(model, batch.corrupt_tokens, clean_cache, metric, _up_to),
    }
    expect_close_or_diagnose(out, expected, what=what, atol=1e-4, rtol=1e-3, mistakes=mistakes, grid_axes=None,
                             axis_names=("layer", "head", "position"),
                             hint="hook_z is (batch, pos, head, d_head): each run patches z[:, pos, head] only.")
    return out, expected


@pytest.mark.parametrize("name", MODEL_NAMES, ids=MODEL_IDS)
def test_matches_reference(name):
    """(layer, head, position) grid of the normalised metric with one head's clean output patched in at one position"""
    _check(name, SETTINGS[name])


def test_second_call():
    """a second call on the same model, with other prompts, owes nothing to the first"""
    first, expected_first = _check("random", SETTINGS["random"])
    _check("random", {**SECOND_CALL, **SETTINGS["random"]}, context=f", {second_call_label()}",
           first=(first, first.clone(), expected_first))
