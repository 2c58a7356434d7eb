"""Grader for ch2.positional_pattern."""
import pytest
import torch

from circuitlab.ch2.grading_support import call_with_model, expect_matches, on_case
from circuitlab.ch2.models import describe_model, model_named
from circuitlab.grading.testing import expect_tensor, reference, submitted

CASES = [("shipped", 0, 2, 0.25), ("shipped", 0, 3, 1.0), ("random", 2, 1, 0.6), ("wide", 1, 4, 1.7)]


def _softmax_causal(scores: torch.Tensor, dim: int = -1) -> torch.Tensor:
    n = scores.shape[-1]
    future = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=dim)


def _mistakes(model, layer, head, ln_scale) -> dict:
    pos = model.W_pos / ln_scale
    centred = pos - pos.mean(-1, keepdim=True)
    qk = model.QK[layer, head]
    scale = model.cfg.d_head ** 0.5
    scores = (centred @ qk @ centred.T).AB
    unscaled = model.W_pos - model.W_pos.mean(-1, keepdim=True)
    return {
        "You left out ln_scale: divide the centred positions by it (on both the query and the key side) before "
        "the QK circuit.": _softmax_causal((unscaled @ qk @ unscaled.T).AB / scale),
        "You divided by ln_scale once; it belongs to both sides (queries and keys), so the scores shrink by "
        "ln_scale squared.": _softmax_causal((unscaled @ qk @ unscaled.T).AB / scale / ln_scale),
        "You did not centre W_pos over d_model; the LayerNorm in front of the layer would subtract each "
        "position's mean.": _softmax_causal((pos @ qk @ pos.T).AB / scale),
        "You did not divide the scores by sqrt(d_head) before the softmax.": _softmax_causal(scores),
        "You swapped queries and keys: row q (the query position) is positions[q] @ QK, column k is the key "
        "(QK = W_Q W_K^T, queries on the left).": _softmax_causal(scores.T / scale),
        "You forgot the causal mask: keys after the query must get -inf before the softmax.":
            (scores / scale).softmax(-1),
        "You took the softmax over queries (dim -2); each query's row must sum to 1: softmax over keys (dim -1).":
            _softmax_causal(scores / scale, dim=-2),
    }


@pytest.mark.parametrize("name, layer, head, ln_scale", CASES, ids=[f"{c[0]}-L{c[1]}H{c[2]}-s{c[3]}" for c in CASES])
def test_matches_reference(name, layer, head, ln_scale):
    """the (n_ctx, n_ctx) pattern from positional embeddings alone: rows are queries, each sums to 1"""
    model = model_named(name)
    n_ctx = model.cfg.n_ctx
    with torch.no_grad():
        expected = reference()(model, layer, head, ln_scale)
    with on_case(f"{describe_model(name)}, head ({layer}, {head}), ln_scale {ln_scale}, n_ctx {n_ctx}"):
        out = call_with_model(submitted(), model, layer, head, ln_scale)
        expect_tensor(out, shape=(n_ctx, n_ctx), dtype="float", what="your positional pattern")
        with torch.no_grad():
            expect_matches(out, expected, axes=["query position", "key position"], atol=1e-5, rtol=1e-4,
                           what="your positional pattern", mistakes=lambda: _mistakes(model, layer, head, ln_scale))
