"""Grader for ch4.attention_to_a: each head's attention from '=' to a, recomputed here from the weights."""
from __future__ import annotations

from functools import lru_cache

import einops
import torch
from torch import Tensor

from circuitlab.ch4.fixtures import all_pairs, grader_models, on_input
from circuitlab.grading.testing import expect_close, fail, isolated, run_learner, submitted


def _scores(model, tokens: Tensor) -> Tensor:
    """Attention scores (pair, head, query, key), from the weights: no LayerNorm, so the residual is W_E + W_pos."""
    resid = model.W_E[tokens] + model.W_pos[None, : tokens.shape[1]]  # [pair pos d_model]
    q = einops.einsum(resid, model.W_Q[0], "pair pos d, head d h -> pair head pos h") + model.b_Q[0][:, None]
    k = einops.einsum(resid, model.W_K[0], "pair pos d, head d h -> pair head pos h") + model.b_K[0][:, None]
    scores = einops.einsum(q, k, "pair head qpos h, pair head kpos h -> pair head qpos kpos")
    scores = scores / model.cfg.d_head ** 0.5
    causal = torch.ones(tokens.shape[1], tokens.shape[1]).tril().bool()
    return scores.masked_fill(~causal, float("-inf"))


@lru_cache(maxsize=None)
def _expectations(index: int) -> dict[str, Tensor]:
    what, model = grader_models()[index]
    p = model.cfg.d_vocab_out
    tokens, _ = all_pairs(p)
    with torch.no_grad():
        scores = _scores(model, tokens)
    pattern = scores.softmax(-1)

    def grid(x: Tensor) -> Tensor:
        return einops.rearrange(x, "(a b) head -> a b head", a=p)

    right = grid(pattern[:, :, -1, 0])
    return {
        "right": right,
        "You took the attention to b (key position 1); a is at key position 0.": grid(pattern[:, :, -1, 1]),
        "You took the attention from the first position (query 0), which can only attend to itself; the query is "
        "the last position, '='.": grid(pattern[:, :, 0, 0]),
        "You returned attention scores before the softmax; the pattern is the softmax of the scores over the "
        "key positions (blocks.0.attn.hook_pattern).": grid(scores[:, :, -1, 0]),
        "Your grid's axes a and b are swapped: row a·p + b belongs at [a, b], with a the first axis "
        "(rearrange '(a b) head -> a b head').": right.transpose(0, 1),
        "You took the attention from '=' to itself (key position 2); a is at key position 0.":
            grid(pattern[:, :, -1, 2]),
    }


def test_matches_reference():
    """each head's attention from '=' to a as a (p, p, n_heads) grid, on three models (no hooks left behind)"""
    for index, (what, model) in enumerate(grader_models()):
        p = model.cfg.d_vocab_out
        tokens, _ = all_pairs(p)
        with isolated(model, what=what) as learner_model:
            out = run_learner(submitted(), learner_model, tokens, what=f"your attention_to_a on {what}")
        expected = _expectations(index)
        if isinstance(out, Tensor) and out.ndim == 2 and model.cfg.n_heads == 1:
            fail(f"Your grid for {what} has shape {tuple(out.shape)}: keep the head axis, shape (p, p, n_heads) = "
                 f"({p}, {p}, 1), even for one head (a bare .squeeze() drops it).")
        if isinstance(out, Tensor):
            out = out.detach()
        mistakes = {hint: value for hint, value in expected.items() if hint != "right"}
        expect_close(out, expected["right"], atol=1e-5, rtol=1e-4, what=f"the attention to a of {what}",
                     axis_names=("a", "b", "head"), mistakes=on_input(what, mistakes),
                     hint="pattern[:, :, -1, 0] from blocks.0.attn.hook_pattern, rearranged to [a, b, head].")
