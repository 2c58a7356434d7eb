"""Grader for ch3.residual_dla."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch3 import ioi_setup
from circuitlab.ch3.grading_support import MODEL_IDS, MODEL_LABELS, MODEL_NAMES, copy_cache, model_named
from circuitlab.data import ioi
from circuitlab.grading.testing import expect_close, reference, run_learner, submitted


@lru_cache(maxsize=None)
def _inputs(name, n=6):
    """Prompts of templates of different lengths (right-padded), so end positions differ from -1."""
    model = model_named(name)
    batch = ioi_setup.make_batch(model, ioi.ioi_prompts(n, templates=ioi.TRAIN_TEMPLATES[:3], seed=11))
    if n == 1:  # one short prompt, padded like the others would be: its end is not the last position
        batch = ioi_setup.make_batch(model, ioi.ioi_prompts(4, templates=ioi.TRAIN_TEMPLATES[:2], seed=11))
        row = slice(int(batch.end_pos.argmin()), int(batch.end_pos.argmin()) + 1)
        batch = ioi_setup.IOIBatch(batch.prompts[row], batch.tokens[row], batch.corrupt_tokens[row],
                                   batch.io_tokens[row], batch.s_tokens[row], batch.end_pos[row], batch.templates[row])
    with torch.no_grad():
        _, cache = model.run_with_cache(batch.tokens)
    rows = torch.arange(len(batch))
    stack, _ = cache.decompose_resid(layer=-1, return_labels=True, apply_ln=False)
    stack = stack[:, rows, batch.end_pos]  # [component, batch, d_model]
    directions = model.tokens_to_residual_directions(batch.io_tokens) - model.tokens_to_residual_directions(batch.s_tokens)
    # tokens_to_residual_directions drops the batch axis for a single token; the spec's directions are (batch, d_model).
    return stack.detach(), cache, batch.end_pos, directions.detach().reshape(len(batch), -1)


def _copies(args):
    """The learner's own copies (the cache is shared by every check)."""
    stack, cache, end_pos, directions = args
    return stack.clone(), copy_cache(cache), end_pos.clone(), directions.clone()


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


@pytest.mark.parametrize("name", MODEL_NAMES, ids=MODEL_IDS)
def test_matches_reference(name):
    """per-component contributions to IO - S, averaged over prompts"""
    args = _inputs(name)
    what = f"direct logit attribution on {MODEL_LABELS[name]}, 6 right-padded prompts"
    out = run_learner(submitted(), *_copies(args), what=f"your residual_to_logit_diff on {MODEL_LABELS[name]}")
    expect_close(out, reference()(*args), what=what, atol=1e-4, rtol=1e-3, mistakes=_mistakes(*args))


def test_one_prompt():
    """a batch of one prompt, whose end is not the last position"""
    args = _inputs("wide", n=1)
    what = f"direct logit attribution on {MODEL_LABELS['wide']}, one prompt ending before the last position"
    out = run_learner(submitted(), *_copies(args), what="your residual_to_logit_diff on one prompt")
    expect_close(out, reference()(*args), what=what, atol=1e-4, rtol=1e-3, mistakes=_mistakes(*args))


def test_adds_up():
    """the components sum to the logit difference (up to the unembedding bias)"""
    stack, cache, end_pos, directions = _inputs("offline")
    out = run_learner(submitted(), *_copies((stack, cache, end_pos, directions)))
    expect_close(torch.as_tensor(out).sum(), reference()(stack, cache, end_pos, directions).sum(),
                 what="sum over components", atol=1e-3, rtol=1e-3)
