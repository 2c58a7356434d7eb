"""Mutants and alternatives for ch1.top_k."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="tied with the k-th largest")
def exactly_k_indices(logits, k):
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter(-1, logits.topk(k, -1).indices, True)
    return logits.masked_fill(~keep, float("-inf"))


@mutant(hint="drop the k-th largest token itself")
def strict_comparison(logits, k):
    kth = logits.topk(k, -1).values[..., -1:]
    return logits.masked_fill(logits <= kth, float("-inf"))


@mutant(hint="k + 1 tokens")
def off_by_one(logits, k):
    kth = logits.topk(k + 1, -1).values[..., -1:]
    return logits.masked_fill(logits < kth, float("-inf"))


@mutant(hint="set to 0")
def zeros(logits, k):
    kth = logits.topk(k, -1).values[..., -1:]
    return logits.masked_fill(logits < kth, 0.0)


@alternative
def with_sort(logits, k):
    kth = logits.sort(-1, descending=True).values[..., k - 1: k]
    return torch.where(logits >= kth, logits, torch.full_like(logits, float("-inf")))


@alternative
def with_large_negative(logits, k):
    kth = logits.topk(k, -1).values[..., -1:]
    return logits.masked_fill(logits < kth, -1e10)
