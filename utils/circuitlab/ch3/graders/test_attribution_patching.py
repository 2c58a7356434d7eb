"""Grader for ch3.attribution_patching."""
import pytest
import torch

from circuitlab.ch3.grading_support import expect_close_or_diagnose, batch_for, metric_for, model_named, run_gradient_fn, to_float_tensor
from circuitlab.grading.testing import expect_tensor, reference, submitted


def _direct_path_only(model, clean_tokens, corrupt_tokens, metric) -> torch.Tensor:
    """The answer a detached leaf in every layer's hook gives: each head's direct path to the logits only."""
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, clean = model.run_with_cache(clean_tokens, names_filter=lambda name: name in names)
    leaves = {}

    def as_leaf(z, hook):
        leaves[hook.name] = z.detach().clone().requires_grad_(True)
        return leaves[hook.name]

    with torch.enable_grad():
        value = metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(lambda name: name in names, as_leaf)]))
        grads = torch.autograd.grad(value, [leaves[name] for name in names])
    return torch.stack([((clean[name] - leaves[name].detach()) * grad).sum(dim=(0, 1, 3))
                        for name, grad in zip(names, grads)])


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
        "Your gradient covers only each head's direct path to the logits: every layer's z was detached, which "
        "cuts the paths through later heads. Keep z in the graph (z.clone(), no detach) so the gradient is the "
        "full derivative patching would feel.": _direct_path_only(model, batch.tokens, batch.corrupt_tokens, metric),
    }
    model.reset_hooks()
    expect_close_or_diagnose(out, expected, what="your (layer, head) scores", atol=1e-4, rtol=1e-3, mistakes=mistakes,
                 hint="Sum (z_clean - z_corrupt) * grad over batch, positions and d_head, once per head.")
