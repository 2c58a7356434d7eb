"""Grader for ch2.decompose_qk."""
import einops
import pytest
import torch

from circuitlab.ch2.models import cached_run, model_named
from circuitlab.grading.testing import expect_close, expect_tensor, reference, run_learner, submitted


def _components(model, cache):
    heads = einops.einsum(cache["blocks.0.attn.hook_z"], model.W_O[0], "b s h e, h e d -> h b s d")
    return torch.cat([cache["hook_embed"][None], cache["hook_pos_embed"][None], heads])


@pytest.mark.parametrize("name, kind, head", [("shipped", "repeated", 0), ("shipped", "text", 2), ("random", "repeated", 1)])
def test_matches_reference(name, kind, head):
    """keys of head (1, head), one slice per component: embed, pos_embed, each layer-0 head"""
    model = model_named(name)
    tokens, _, cache = cached_run(name, kind)
    out = run_learner(submitted(), model, cache, head)
    expect_tensor(out, shape=(2 + model.cfg.n_heads, tokens.shape[0], tokens.shape[1], model.cfg.d_head),
                  what="your decomposed keys")
    with torch.no_grad():
        inputs = _components(model, cache)
        centred = inputs - inputs.mean(-1, keepdim=True)
        scale = cache["blocks.1.ln1.hook_scale"]
        expected = reference()(model, cache, head)
        mistakes = {
            "You did not divide by layer 1's LayerNorm scale (cache['blocks.1.ln1.hook_scale']); the keys are "
            "computed from the normalised residual stream.": centred @ model.W_K[1, head],
            "You did not centre the components (subtract each one's mean over d_model) before dividing by the "
            "LayerNorm scale.": inputs / scale @ model.W_K[1, head],
            "You used W_Q: the keys come from W_K.": centred / scale @ model.W_Q[1, head],
            "You used layer 0's W_K; the induction head is in layer 1 (model.W_K[1, head]).":
                centred / scale @ model.W_K[0, head],
        }
    expect_close(out.detach(), expected, atol=1e-4, rtol=1e-4, what="your decomposed keys", mistakes=mistakes)
