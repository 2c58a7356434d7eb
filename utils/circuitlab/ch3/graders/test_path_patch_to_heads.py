"""Grader for ch3.path_patch_to_heads."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import reference as ref
from circuitlab.ch3.grading_support import (MODEL_LABELS, SECOND_CALL, batch_for, batch_label, caches_for,
                                            expect_calls_independent, expect_close_or_diagnose, expect_grid,
                                            metric_for, model_named, path_patch_variant, run_on_model,
                                            second_call_label, where)
from circuitlab.grading.testing import submitted

BATCH = dict(n=3, mixed=True)
# Receivers spread over several layers, one case per component.
CASES = [
    ("offline", ((2, 1), (3, 0), (3, 2)), "q"),
    ("random", ((1, 0), (1, 2)), "k"),
    ("wide", ((1, 3), (2, 0), (2, 4)), "v"),
    ("offline", ((1, 2), (3, 3)), "k"),
]


def _two_step(model, tokens, clean_cache, corrupt_cache, metric, receivers, component, freeze=True,
              whole_layer=False, freeze_second=False):
    """Path patching to heads at every position, or one of the mistakes the hints name."""
    return path_patch_variant(model, tokens, clean_cache, corrupt_cache, metric, receivers, component,
                              freeze=freeze, whole_layer=whole_layer, freeze_second=freeze_second)


def _inputs(name, batch_items=tuple(BATCH.items())):
    kwargs = dict(batch_items)
    batch = batch_for(name, **kwargs)
    _, clean_cache, _, corrupt_cache = caches_for(name, **kwargs)
    return batch, clean_cache, corrupt_cache, metric_for(name, **kwargs)


@lru_cache(maxsize=None)
def _reference_grid(name, receivers, component, batch_items=tuple(BATCH.items())):
    batch, clean_cache, corrupt_cache, metric = _inputs(name, batch_items)
    with torch.no_grad():
        return ref.path_patch_to_heads(model_named(name), batch.tokens, clean_cache, corrupt_cache, metric,
                                       list(receivers), component)


def _check(name, receivers, component, batch_items=tuple(BATCH.items()), context="", first=None):
    """Run the learner's function on ``batch_for(name, **dict(batch_items))`` and compare it with the reference."""
    model = model_named(name)
    batch, clean_cache, corrupt_cache, metric = _inputs(name, batch_items)
    expected = _reference_grid(name, receivers, component, batch_items)
    out = run_on_model(submitted(), name, batch.tokens, clean_cache, corrupt_cache, metric, list(receivers), component,
                       cache_names=("clean_cache", "corrupt_cache"),
                       context=f", receivers {list(receivers)}, component {component!r}, {batch_label(batch)}{context}")
    what = f"your (layer, head) grid for receivers {list(receivers)}, component {component!r}, {where(name, batch)}"
    what += context
    out = expect_grid(out, (model.cfg.n_layers, model.cfg.n_heads), what)
    if first is not None:
        expect_calls_independent(first, out, expected, what=what)
    args = (model, batch.tokens, clean_cache, corrupt_cache, metric, list(receivers))
    last_layer = max(layer for layer, _ in receivers)

    def mistakes():
        known = {
            "Your path patching lets the effect flow through other heads: in the first run, every head except "
            "the sender must be pinned to its clean output.": _two_step(*args, component, freeze=False),
            "You replaced every head of the receiver layer; patch only the receiver heads.":
                _two_step(*args, component, whole_layer=True),
            f"You patched only the receivers in layer {last_layer}; receivers can sit in several layers "
            f"(here {list(receivers)}): patch each one in its own layer.":
                _two_step(*(args[:-1]), [r for r in receivers if r[0] == last_layer], component),
            "In the second run you pinned the heads to their clean outputs again; only the receivers' "
            f"{component} is replaced there, and everything downstream of them runs freely.":
                _two_step(*args, component, freeze_second=True),
        }
        for other in ("q", "k", "v"):
            if other != component:
                known[f"You patched hook_{other}; this call asked for the receivers' {component} "
                      "(component is 'q', 'k' or 'v')."] = _reference_grid(name, receivers, other, batch_items)
        return known

    expect_close_or_diagnose(out, expected, what=what, atol=1e-4, rtol=1e-3, mistakes=mistakes)
    return out, expected


@pytest.mark.parametrize("name, receivers, component", CASES,
                         ids=[f"{c}, receivers {list(r)} on {MODEL_LABELS[n].split(' (')[0]}" for n, r, c in CASES])
def test_matches_reference(name, receivers, component):
    """(sender layer, sender head) grid of the metric when only sender -> receivers' q/k/v is corrupted"""
    _check(name, receivers, component)


def test_second_call():
    """a second call on the same model, with other prompts, owes nothing to the first"""
    name, receivers, component = CASES[3]  # the trained model: the random ones barely tell prompts apart here
    first, expected_first = _check(name, receivers, component)
    _check(name, receivers, component, tuple(SECOND_CALL.items()), context=f", {second_call_label()}",
           first=(first, first.clone(), expected_first))
