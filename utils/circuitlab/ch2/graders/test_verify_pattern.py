"""Grader for ch2.verify_pattern."""
import pytest
import torch

from circuitlab.ch2.models import cached_run, model_named
from circuitlab.grading.testing import expect_close, reference, run_learner, submitted


def _mistakes(q: torch.Tensor, k: torch.Tensor) -> dict:
    d_head, seq = q.shape[-1], q.shape[0]
    raw = torch.einsum("qhd,khd->hqk", q, k)
    future = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=1)
    with_self = torch.triu(torch.ones(seq, seq, dtype=torch.bool), diagonal=0)
    scaled = raw / d_head**0.5
    return {
        "You forgot to divide the scores by sqrt(d_head) before the softmax.": raw.masked_fill(future, -torch.inf).softmax(-1),
        "You left out the causal mask: a query must not attend to later positions (set their scores to -inf "
        "before the softmax).": scaled.softmax(-1),
        "Your mask also hides the diagonal: a query may attend to its own position (torch.triu(..., diagonal=1)).":
            scaled.masked_fill(with_self, -torch.inf).softmax(-1),
        "The softmax runs over the query axis; each query's row (the last axis, keys) must sum to 1.":
            scaled.masked_fill(future, -torch.inf).softmax(-2),
        "Query and key axes are swapped: the output is (head, query position, key position).":
            scaled.masked_fill(future, -torch.inf).softmax(-1).transpose(-1, -2),
    }


@pytest.mark.parametrize("name, kind, layer", [("shipped", "text", 0), ("shipped", "repeated", 1), ("random", "repeated", 1)])
def test_matches_cached_pattern(name, kind, layer):
    """recomputes the cached pattern from q and k (shipped model, text and repeated tokens; random model)"""
    _, _, cache = cached_run(name, kind)
    q, k = cache[f"blocks.{layer}.attn.hook_q"][0], cache[f"blocks.{layer}.attn.hook_k"][0]
    out = run_learner(submitted(), q, k)
    expected = reference()(q, k)
    expect_close(out, expected, atol=1e-5, what="your pattern", mistakes=_mistakes(q, k))
    expect_close(out, cache[f"blocks.{layer}.attn.hook_pattern"][0], atol=1e-5, what="your pattern (vs the cache)")
