"""Mutants and alternatives for ch1.top_p."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _filter(logits, p, keep_crossing=True, descending=True, use_probs=True, fill=float("-inf")):
    values, order = logits.sort(-1, descending=descending)
    probs = values.softmax(-1) if use_probs else values
    cumulative = probs.cumsum(-1)
    drop = (cumulative - probs >= p) if keep_crossing else (cumulative > p)
    drop_in_vocab_order = torch.zeros_like(drop).scatter(-1, order, drop)
    return logits.masked_fill(drop_in_vocab_order, fill)


@mutant(hint="drop the token that crosses the threshold")
def drops_crossing_token(logits, p):
    return _filter(logits, p, keep_crossing=False)


@mutant(hint="descending order")
def ascending(logits, p):
    return _filter(logits, p, descending=False)


@mutant(hint="set to 0")
def zeros(logits, p):
    return _filter(logits, p, fill=0.0)


@mutant(hint="probabilities")
def on_logits(logits, p):
    return _filter(logits, p, use_probs=False)


@alternative
def with_argsort_inverse(logits, p):
    order = logits.argsort(-1, descending=True)
    sorted_probs = logits.gather(-1, order).softmax(-1)
    keep_sorted = (sorted_probs.cumsum(-1) - sorted_probs) < p
    inverse = order.argsort(-1)
    keep = keep_sorted.gather(-1, inverse)
    return torch.where(keep, logits, torch.tensor(float("-inf")))
