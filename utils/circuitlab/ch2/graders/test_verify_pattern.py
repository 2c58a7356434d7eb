"""Grader for ch2.verify_pattern."""
import pytest
import torch

from circuitlab.ch2.grading_support import expect_matches, on_case
from circuitlab.ch2.models import cached_run, describe_model
from circuitlab.grading.testing import reference, run_learner, seeded, submitted

AXES = ["head", "query", "key"]


def _mistakes(q: torch.Tensor, k: torch.Tensor) -> dict:
    d_head, seq = q.shape[-1], q.shape[0]
    raw = torch.einsum("qhd,khd->hqk", q, k)
    future = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1)
    with_self = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=0)
    scaled = raw / d_head**0.5
    mistakes = {
        "You forgot to divide the scores by sqrt(d_head) before the softmax.": raw.masked_fill(future, -torch.inf).softmax(-1),
        "You divided by d_head; the scores are divided by its square root, sqrt(d_head).":
            (raw / d_head).masked_fill(future, -torch.inf).softmax(-1),
        "You left out the causal mask: a query must not attend to later positions (set their scores to -inf "
        "before the softmax).": scaled.softmax(-1),
        "Your mask also hides the diagonal: a query may attend to its own position (torch.triu(..., diagonal=1)).":
            scaled.masked_fill(with_self, -torch.inf).softmax(-1),
        "The softmax runs over the query axis; each query's row (the last axis, keys) must sum to 1.":
            scaled.masked_fill(future, -torch.inf).softmax(-2),
        "Query and key axes are swapped: the output is (head, query position, key position).":
            scaled.masked_fill(future, -torch.inf).softmax(-1).transpose(-1, -2),
    }
    if d_head != 16:
        mistakes["You divided by sqrt(16), the shipped model's d_head: read d_head from q.shape[-1]."] = (
            raw / 4.0).masked_fill(future, -torch.inf).softmax(-1)
    return mistakes


@pytest.mark.parametrize("name, kind, layer", [("shipped", "text", 0), ("shipped", "repeated", 1),
                                               ("random", "repeated", 2), ("wide", "repeated", 1)])
def test_matches_cached_pattern(name, kind, layer):
    """recomputes the cached pattern from q and k (trained model; two random models of other sizes)"""
    _, _, cache = cached_run(name, kind)
    q, k = cache[f"blocks.{layer}.attn.hook_q"][0], cache[f"blocks.{layer}.attn.hook_k"][0]
    expected = reference()(q, k)
    with on_case(f"{describe_model(name)}, layer {layer}, {kind} tokens (q and k of shape {tuple(q.shape)})"):
        out = run_learner(submitted(), q.clone(), k.clone())
        expect_matches(out, expected, axes=AXES, what="your pattern", mistakes=lambda: _mistakes(q, k))
        expect_matches(out, cache[f"blocks.{layer}.attn.hook_pattern"][0], axes=AXES,
                       what="your pattern (vs the cache)")


@pytest.mark.parametrize("seq, heads, d_head", [(6, 1, 5), (1, 3, 7)])
def test_edge_shapes(seq, heads, d_head):
    """works for a single head and for a single position (no axis of size 1 dropped)"""
    with seeded(seq * 10 + heads):
        q, k = torch.randn(seq, heads, d_head) * 2, torch.randn(seq, heads, d_head) * 2
    expected = reference()(q, k)
    with on_case(f"random q and k of shape ({seq}, {heads}, {d_head}) (seq, head, d_head)"):
        out = run_learner(submitted(), q, k)
        expect_matches(out, expected, axes=AXES, what="your pattern", mistakes=lambda: _mistakes(q, k))
