"""Mutants and alternatives for ch2.positional_pattern."""
import einops
import torch

from circuitlab.grading.meta import alternative, mutant


def _pattern(model, layer, head, centre=True, scale=True, mask=True, transpose=False, dim=-1):
    pos = model.W_pos
    if centre:
        pos = pos - pos.mean(-1, keepdim=True)
    scores = (pos @ model.QK[layer, head] @ pos.T).AB
    if transpose:
        scores = scores.T
    if scale:
        scores = scores / model.cfg.d_head ** 0.5
    if mask:
        n = scores.shape[0]
        scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1), float("-inf"))
    return scores.softmax(dim)


@mutant(hint="did not centre")
def uncentred(model, layer, head):
    return _pattern(model, layer, head, centre=False)


@mutant(hint="sqrt(d_head)")
def unscaled(model, layer, head):
    return _pattern(model, layer, head, scale=False)


@mutant(hint="causal mask")
def unmasked(model, layer, head):
    return _pattern(model, layer, head, mask=False)


@mutant(hint="swapped queries and keys")
def transposed(model, layer, head):
    return _pattern(model, layer, head, transpose=True)


@mutant(hint="softmax over queries")
def softmax_over_queries(model, layer, head):
    return _pattern(model, layer, head, dim=-2)


@alternative
def through_queries_and_keys(model, layer, head):
    """Queries and keys of the positions, as the model would compute them (without biases)."""
    pos = model.W_pos - model.W_pos.mean(-1, keepdim=True)
    q = pos @ model.W_Q[layer, head]
    k = pos @ model.W_K[layer, head]
    scores = einops.einsum(q, k, "q d, k d -> q k") / q.shape[-1] ** 0.5
    n = scores.shape[0]
    return scores.masked_fill(torch.ones(n, n).triu(1).bool(), -1e9).softmax(-1)
