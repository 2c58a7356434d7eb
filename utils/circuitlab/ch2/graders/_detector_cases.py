"""Inputs shared by the three detector graders: real patterns from two models and a synthetic one."""
import torch

from circuitlab.ch2.models import cached_run
from circuitlab.grading.testing import seeded

CASES = [("shipped", "text", 0), ("shipped", "text", 1), ("random", "repeated", 0), ("synthetic", "", 0)]
CASE_IDS = ["shipped-text-layer0", "shipped-text-layer1", "random-model", "synthetic"]


def pattern_for(name: str, kind: str, layer: int) -> torch.Tensor:
    """(batch, head, q, k) attention pattern for a detector check."""
    if name == "synthetic":
        with seeded(11):
            scores = torch.randn(3, 5, 9, 9)
        future = torch.triu(torch.ones(9, 9, dtype=torch.bool), diagonal=1)
        return scores.masked_fill(future, -torch.inf).softmax(-1)
    _, _, cache = cached_run(name, kind)
    return cache[f"blocks.{layer}.attn.hook_pattern"]


def diagonal_mean(pattern: torch.Tensor, offset: int) -> torch.Tensor:
    return pattern.diagonal(offset=offset, dim1=-2, dim2=-1).mean(dim=(0, -1))
