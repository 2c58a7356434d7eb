"""Inputs shared by the three detector graders: real patterns from the three grading models (batch 1
included, so a bare .squeeze() fails) and synthetic ones (one head; two positions)."""
import torch

from circuitlab.ch2.models import cached_run, describe_model
from circuitlab.grading.testing import seeded

# (model, input kind, layer, batch): "synthetic-B-H-S" is a random causal pattern of that size.
CASES = [
    ("shipped", "text", 0, 1),
    ("shipped", "repeated", 1, 4),
    ("random", "repeated", 2, 1),
    ("wide", "repeated", 1, 3),
    ("synthetic", "3-1-9", 0, 3),
    ("synthetic", "2-4-2", 0, 2),
]
CASE_IDS = ["shipped-text-layer0", "shipped-repeated-layer1", "random-layer2-batch1", "wide-layer1",
            "synthetic-one-head", "synthetic-two-positions"]


def pattern_for(name: str, kind: str, layer: int, batch: int) -> torch.Tensor:
    """(batch, head, q, k) attention pattern for a detector check."""
    if name == "synthetic":
        b, h, s = (int(n) for n in kind.split("-"))
        with seeded(11):
            scores = torch.randn(b, h, s, s)
        future = torch.triu(torch.ones(s, s, dtype=torch.bool), diagonal=1)
        return scores.masked_fill(future, -torch.inf).softmax(-1)
    _, _, cache = cached_run(name, kind, batch=batch, half_len=7)
    return cache[f"blocks.{layer}.attn.hook_pattern"]


def case_text(name: str, kind: str, layer: int, batch: int) -> str:
    if name == "synthetic":
        b, h, s = kind.split("-")
        return f"a random causal pattern of shape (batch {b}, head {h}, q {s}, k {s})"
    return f"{describe_model(name)}, layer {layer}, {kind} tokens, batch {batch}"


def diagonal_mean(pattern: torch.Tensor, offset: int) -> torch.Tensor:
    return pattern.diagonal(offset=offset, dim1=-2, dim2=-1).mean(dim=(0, -1))
