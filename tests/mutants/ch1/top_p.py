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


@mutant(hint="vocabulary order")
def mask_left_in_sorted_order(logits, p):
    values, _ = logits.sort(-1, descending=True)
    probs = values.softmax(-1)
    drop_sorted = probs.cumsum(-1) - probs >= p
    return logits.masked_fill(drop_sorted, float("-inf"))


@mutant(hint="in place")
def fills_in_place(logits, p):
    drop = _filter(logits, p) == float("-inf")
    return logits.masked_fill_(drop, float("-inf"))


@mutant(hint="the nucleus holds")
def keeps_every_tied_token(logits, p):
    """Keeps a token when the mass of strictly more likely tokens is below p: a tie at p keeps too many."""
    probs = logits.softmax(-1)
    mass_above = (probs[..., None, :] * (probs[..., None, :] > probs[..., :, None])).sum(-1)
    return logits.masked_fill(mass_above >= p, float("-inf"))


@alternative
def stable_ascending_sort_flipped(logits, p):
    """Breaks ties the other way round from the reference: either tied token may be kept."""
    values, order = logits.sort(dim=-1, stable=True)
    values, order = values.flip(-1), order.flip(-1)
    probs = values.softmax(-1)
    drop = probs.cumsum(-1) - probs >= p
    return logits.masked_fill(torch.zeros_like(drop).scatter(-1, order, drop), float("-inf"))


@alternative
def with_a_shifted_cumsum(logits, p):
    values, order = logits.sort(-1, descending=True)
    cumulative = values.softmax(-1).cumsum(-1)
    before = torch.cat([torch.zeros_like(cumulative[..., :1]), cumulative[..., :-1]], -1)
    keep = torch.zeros_like(before, dtype=torch.bool).scatter(-1, order, before < p)
    return torch.where(keep, logits, float("-inf"))
