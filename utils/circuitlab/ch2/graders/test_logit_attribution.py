"""Grader for ch2.logit_attribution."""
import einops
import pytest
import torch

from circuitlab.ch2.models import cached_run, model_named
from circuitlab.grading.testing import expect_close, expect_tensor, reference, run_learner, submitted


def _stack(model, cache):
    heads = [einops.einsum(cache[f"blocks.{l}.attn.hook_z"], model.W_O[l], "b s h e, h e d -> b s h d")
             for l in range(model.cfg.n_layers)]
    direct = cache["hook_embed"] + cache["hook_pos_embed"]
    return torch.cat([direct[:, :, None], *heads], dim=2)


def _read(stack, model, targets):
    return einops.einsum(stack[:, :-1], model.W_U[:, targets], "b s c d, d b s -> b s c")


@pytest.mark.parametrize("name, kind", [("shipped", "text"), ("shipped", "repeated"), ("random", "repeated")])
def test_matches_reference(name, kind):
    """one direct logit attribution per (batch, position, component), through the final LayerNorm"""
    model = model_named(name)
    tokens, _, cache = cached_run(name, kind)
    out = run_learner(submitted(), model, cache, tokens)
    n_components = 1 + model.cfg.n_layers * model.cfg.n_heads
    expect_tensor(out, shape=(tokens.shape[0], tokens.shape[1] - 1, n_components), what="your attributions")
    with torch.no_grad():
        stack = _stack(model, cache)
        centred = stack - stack.mean(-1, keepdim=True)
        scale = cache["ln_final.hook_scale"][:, :, None]
        expected = reference()(model, cache, tokens)
        mistakes = {
            "You did not divide by the final LayerNorm scale (cache['ln_final.hook_scale']): the unembedding "
            "reads the normalised residual stream.": _read(centred, model, tokens[:, 1:]),
            "You divided by the final LayerNorm scale but did not centre each component (subtract its mean "
            "over d_model): LayerNorm subtracts the mean before scaling.": _read(stack / scale, model, tokens[:, 1:]),
            "You read the logit of the current token; position j should be scored on the next token, "
            "tokens[:, j + 1].": _read(centred / scale, model, tokens[:, :-1]),
            "You did not divide by the final LayerNorm scale, nor centre the components.": _read(stack, model, tokens[:, 1:]),
        }
    expect_close(out.detach(), expected, atol=1e-4, rtol=1e-4, what="your attributions", mistakes=mistakes,
                 hint="Component 0 is embed + pos_embed; component 1 + layer * n_heads + head is that head's z @ W_O.")
