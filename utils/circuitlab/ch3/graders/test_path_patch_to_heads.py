"""Grader for ch3.path_patch_to_heads."""
import pytest
import torch

from circuitlab.ch3.grading_support import expect_close_or_diagnose, batch_for, caches_for, metric_for, model_named, run_patching, to_float_tensor
from circuitlab.grading.testing import expect_tensor, reference, submitted

# Receivers in the last layer (queries of the IOI model's last layer; keys of the random model's).
SETTINGS = {"offline": ([(3, 0), (3, 2)], "q"), "random": ([(1, 1)], "k")}


def _two_step(model, tokens, clean_cache, corrupt_cache, metric, receivers, component, freeze, whole_layer=False):
    """A configurable version of path patching to heads, to recognise common mistakes."""
    names = {f"blocks.{l}.attn.hook_{component}" for l, _ in receivers}
    z_names = {f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)}
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            seen = {}

            def sender(z, hook, layer=layer, head=head):
                new = clean_cache[hook.name].clone() if freeze else z
                if hook.layer() == layer:
                    new[:, :, head] = corrupt_cache[hook.name][:, :, head]
                return new

            def record(act, hook):
                seen[hook.name] = act.detach().clone()

            model.run_with_hooks(tokens, fwd_hooks=[(lambda n: n in z_names, sender), (lambda n: n in names, record)])

            def patch(act, hook):
                for r_layer, r_head in receivers:
                    if r_layer == hook.layer():
                        if whole_layer:
                            act[:] = seen[hook.name]
                        else:
                            act[:, :, r_head] = seen[hook.name][:, :, r_head]
                return act

            logits = model.run_with_hooks(tokens, fwd_hooks=[(lambda n: n in names, patch)])
            out[layer, head] = metric(logits).item()
    return out


@pytest.mark.parametrize("name", ["offline", "random"], ids=["IOI model", "random model"])
def test_matches_reference(name):
    """(sender layer, sender head) grid of the metric when only sender -> receivers' q/k/v is corrupted"""
    model = model_named(name)
    batch = batch_for(name, n=3)
    _, clean_cache, _, corrupt_cache = caches_for(name, n=3)
    metric = metric_for(name, n=3)
    receivers, component = SETTINGS[name]
    out = run_patching(submitted(), model, batch.tokens, clean_cache, corrupt_cache, metric, list(receivers), component)
    out = expect_tensor(to_float_tensor(out, "your result"), shape=(model.cfg.n_layers, model.cfg.n_heads),
                        what="your (layer, head) grid")
    args = (model, batch.tokens, clean_cache, corrupt_cache, metric, receivers)
    with torch.no_grad():
        expected = reference()(*args, component)
        other = "k" if component == "q" else "q"
        mistakes = lambda: {
            "Your path patching lets the effect flow through other heads: in the first run, every head except "
            "the sender must be pinned to its clean output.": _two_step(*args, component, freeze=False),
            f"You patched hook_{other}; this call asked for the receivers' {component} "
            "(component is 'q', 'k' or 'v').": reference()(*args, other),
            "You replaced every head of the receiver layer; patch only the receiver heads.":
                _two_step(*args, component, freeze=True, whole_layer=True),
        }
    expect_close_or_diagnose(out, expected, what="your (layer, head) grid", atol=1e-4, rtol=1e-3, mistakes=mistakes)
