"""Grader for ch2.logit_attribution."""
import einops
import pytest
import torch

from circuitlab.ch2.grading_support import call_with_cache, expect_matches, on_case
from circuitlab.ch2.models import cached_run, describe_model, model_named
from circuitlab.grading.testing import expect_tensor, reference, submitted

CASES = [("shipped", "text", 1), ("shipped", "repeated", 4), ("random", "repeated", 1), ("wide", "repeated", 3)]


def _stack(model, cache, with_bias: bool = False):
    heads = [einops.einsum(cache[f"blocks.{l}.attn.hook_z"], model.W_O[l], "b s h e, h e d -> b s h d")
             + (model.b_O[l] if with_bias else 0.0) for l in range(model.cfg.n_layers)]
    direct = cache["hook_embed"] + cache["hook_pos_embed"]
    return torch.cat([direct[:, :, None], *heads], dim=2)


def _read(stack, model, targets):
    return einops.einsum(stack[:, :-1], model.W_U[:, targets], "b s c d, d b s -> b s c")


def _mistakes(model, cache, tokens) -> dict:
    stack = _stack(model, cache)
    centred = stack - stack.mean(-1, keepdim=True)
    scale = cache["ln_final.hook_scale"][:, :, None]
    biased = _stack(model, cache, with_bias=True)
    return {
        "You did not divide by the final LayerNorm scale (cache['ln_final.hook_scale']): the unembedding "
        "reads the normalised residual stream.": _read(centred, model, tokens[:, 1:]),
        "You divided by the final LayerNorm scale but did not centre each component (subtract its mean "
        "over d_model): LayerNorm subtracts the mean before scaling.": _read(stack / scale, model, tokens[:, 1:]),
        "You read the logit of the current token; position j should be scored on the next token, "
        "tokens[:, j + 1].": _read(centred / scale, model, tokens[:, :-1]),
        "You did not divide by the final LayerNorm scale, nor centre the components.": _read(stack, model, tokens[:, 1:]),
        "You added the attention output bias b_O to every head; the spec leaves biases out (b_O belongs to the "
        "layer, not to any one head).": _read((biased - biased.mean(-1, keepdim=True)) / scale, model, tokens[:, 1:]),
    }


@pytest.mark.parametrize("name, kind, batch", CASES, ids=[f"{c[0]}-{c[1]}-batch{c[2]}" for c in CASES])
def test_matches_reference(name, kind, batch):
    """one direct logit attribution per (batch, position, component), through the final LayerNorm"""
    model = model_named(name)
    tokens, _, cache = cached_run(name, kind, batch=batch, half_len=6)
    with torch.no_grad():
        expected = reference()(model, cache, tokens)
    with on_case(f"{describe_model(name)}, {kind} tokens, batch {batch}"):
        out = call_with_cache(submitted(), model, cache, tokens.clone())
        n_components = 1 + model.cfg.n_layers * model.cfg.n_heads
        expect_tensor(out, shape=(tokens.shape[0], tokens.shape[1] - 1, n_components), what="your attributions")
        with torch.no_grad():
            expect_matches(out, expected, axes=["batch", "position", "component"], atol=1e-4, rtol=1e-4,
                           what="your attributions", mistakes=lambda: _mistakes(model, cache, tokens),
                           hint="Component 0 is embed + pos_embed; component 1 + layer * n_heads + head is that "
                                "head's z @ W_O.")
