"""Grader for ch3.residual_dla."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import ioi_setup
from circuitlab.ch3.grading_support import model_named
from circuitlab.data import ioi
from circuitlab.grading.testing import expect_close, reference, run_learner, submitted


@lru_cache(maxsize=None)
def _inputs(name):
    """Prompts of two templates of different lengths, so end positions differ from -1."""
    model = model_named(name)
    batch = ioi_setup.make_batch(model, ioi.ioi_prompts(6, templates=ioi.TRAIN_TEMPLATES[:3], seed=11))
    with torch.no_grad():
        _, cache = model.run_with_cache(batch.tokens)
    rows = torch.arange(len(batch))
    stack, _ = cache.decompose_resid(layer=-1, return_labels=True, apply_ln=False)
    stack = stack[:, rows, batch.end_pos]  # [component, batch, d_model]
    directions = model.tokens_to_residual_directions(batch.io_tokens) - model.tokens_to_residual_directions(batch.s_tokens)
    return stack.detach(), cache, batch.end_pos, directions.detach()


def _mistakes(stack, cache, end_pos, directions):
    rows = torch.arange(stack.shape[1])
    scale = cache["ln_final.hook_scale"][rows, end_pos]
    last_scale = cache["ln_final.hook_scale"][:, -1]
    dot = lambda s: torch.einsum("cbd,bd->cb", s, directions)
    return {
        "You did not divide by the final LayerNorm scale: the logits are computed from the normalised residual "
        "stream, so each piece must be divided by cache['ln_final.hook_scale'] at the prompt's end position.":
            dot(stack).mean(-1),
        "You took the LayerNorm scale at position -1; the prompts are right-padded, so use each prompt's "
        "end position.": dot(stack / last_scale).mean(-1),
        "You multiplied by the LayerNorm scale; LayerNorm divides by it.": dot(stack * scale).mean(-1),
        "You summed over the batch; average over it.": dot(stack / scale).sum(-1),
    }


@pytest.mark.parametrize("name", ["offline", "random"], ids=["IOI model", "random model"])
def test_matches_reference(name):
    """per-component contributions to IO - S, averaged over prompts"""
    args = _inputs(name)
    out = run_learner(submitted(), *args)
    expect_close(out, reference()(*args), what="direct logit attribution", atol=1e-4, rtol=1e-3,
                 mistakes=_mistakes(*args))


def test_adds_up():
    """the components sum to the logit difference (up to the unembedding bias)"""
    stack, cache, end_pos, directions = _inputs("offline")
    out = run_learner(submitted(), stack, cache, end_pos, directions)
    expect_close(torch.as_tensor(out).sum(), reference()(stack, cache, end_pos, directions).sum(),
                 what="sum over components", atol=1e-3, rtol=1e-3)
