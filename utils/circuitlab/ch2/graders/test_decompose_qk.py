"""Grader for ch2.decompose_qk."""
import einops
import pytest
import torch

from circuitlab.ch2.grading_support import call_with_cache, expect_matches, on_case
from circuitlab.ch2.models import cached_run, describe_model, model_named
from circuitlab.grading.testing import expect_tensor, reference, submitted

CASES = [("shipped", "repeated", 4, 0), ("shipped", "text", 1, 2), ("random", "repeated", 1, 1), ("wide", "repeated", 3, 4)]


def _mistakes(model, cache, head) -> dict:
    heads = einops.einsum(cache["blocks.0.attn.hook_z"], model.W_O[0], "b s h e, h e d -> h b s d")
    inputs = torch.cat([cache["hook_embed"][None], cache["hook_pos_embed"][None], heads])
    centred = inputs - inputs.mean(-1, keepdim=True)
    scale = cache["blocks.1.ln1.hook_scale"]
    return {
        "You did not divide by layer 1's LayerNorm scale (cache['blocks.1.ln1.hook_scale']); the keys are "
        "computed from the normalised residual stream.": centred @ model.W_K[1, head],
        "You did not centre the components (subtract each one's mean over d_model) before dividing by the "
        "LayerNorm scale.": inputs / scale @ model.W_K[1, head],
        "You used W_Q: the keys come from W_K.": centred / scale @ model.W_Q[1, head],
        "You used layer 0's W_K; the induction head is in layer 1 (model.W_K[1, head]).": centred / scale @ model.W_K[0, head],
        "You divided by layer 0's LayerNorm scale; layer 1's keys read layer 1's normalised input "
        "(cache['blocks.1.ln1.hook_scale']).": centred / cache["blocks.0.ln1.hook_scale"] @ model.W_K[1, head],
        "You added the key bias b_K to every component; the spec leaves it out (it belongs to no component).":
            centred / scale @ model.W_K[1, head] + model.b_K[1, head],
    }


@pytest.mark.parametrize("name, kind, batch, head", CASES, ids=[f"{c[0]}-{c[1]}-batch{c[2]}-head{c[3]}" for c in CASES])
def test_matches_reference(name, kind, batch, head):
    """keys of head (1, head), one slice per component: embed, pos_embed, each layer-0 head"""
    model = model_named(name)
    tokens, _, cache = cached_run(name, kind, batch=batch, half_len=6)
    with torch.no_grad():
        expected = reference()(model, cache, head)
    with on_case(f"{describe_model(name)}, {kind} tokens, batch {batch}, head (1, {head})"):
        out = call_with_cache(submitted(), model, cache, head)
        expect_tensor(out, shape=(2 + model.cfg.n_heads, tokens.shape[0], tokens.shape[1], model.cfg.d_head),
                      what="your decomposed keys")
        with torch.no_grad():
            expect_matches(out, expected, axes=["component", "batch", "position", "d_head"], atol=1e-4, rtol=1e-4,
                           what="your decomposed keys", mistakes=lambda: _mistakes(model, cache, head))
