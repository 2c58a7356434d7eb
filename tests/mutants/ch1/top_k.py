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


@mutant(hint="in place")
def fills_in_place(logits, k):
    kth = logits.topk(k, -1).values[..., -1:]
    return logits.masked_fill_(logits < kth, float("-inf"))


@mutant(hint="kept the wrong tokens in row(s)")
def along_the_batch_axis(logits, k):
    k = min(k, logits.shape[0])
    kth = logits.topk(k, 0).values[-1:]
    return logits.masked_fill(logits < kth, float("-inf"))


@alternative
def with_a_loop_over_rows(logits, k):
    out = torch.full_like(logits, float("-inf"))
    for row in range(logits.shape[0]):
        kth = sorted(logits[row].tolist(), reverse=True)[k - 1]
        keep = logits[row] >= kth
        out[row][keep] = logits[row][keep]
    return out
