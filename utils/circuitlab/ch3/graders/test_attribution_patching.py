"""Grader for ch3.attribution_patching."""
import pytest
import torch

from circuitlab.ch3.grading_support import expect_close_or_diagnose, batch_for, metric_for, model_named, run_gradient_fn, to_float_tensor
from circuitlab.grading.testing import expect_tensor, reference, submitted


@pytest.mark.parametrize("name", ["offline", "random"], ids=["IOI model", "random model"])
def test_matches_reference(name):
    """(layer, head) attribution scores: (z_clean - z_corrupt) . gradient at the corrupted run"""
    model = model_named(name)
    batch = batch_for(name)
    metric = metric_for(name)
    out = run_gradient_fn(submitted(), model, batch.tokens, batch.corrupt_tokens, metric)
    out = expect_tensor(to_float_tensor(out, "your result"), shape=(model.cfg.n_layers, model.cfg.n_heads),
                        what="your (layer, head) scores")
    expected = reference()(model, batch.tokens, batch.corrupt_tokens, metric)
    # Swapping the roles of the two runs gives the gradient at the clean run with the opposite difference.
    mistakes = lambda: {
        "Your scores have the opposite sign: the difference is z_clean - z_corrupt (the change a clean patch "
        "makes to the corrupted run).": -expected,
        "You took the gradient at the clean run; attribution patching linearises around the corrupted run, "
        "the run being patched.": -reference()(model, batch.corrupt_tokens, batch.tokens, metric),
    }
    model.reset_hooks()
    expect_close_or_diagnose(out, expected, what="your (layer, head) scores", atol=1e-4, rtol=1e-3, mistakes=mistakes,
                 hint="Sum (z_clean - z_corrupt) * grad over batch, positions and d_head, once per head.")
