"""Mutants and alternatives for ch2.positional_pattern."""
import einops
import torch

from circuitlab.grading.meta import alternative, mutant


def _pattern(model, layer, head, ln_scale=1.0, centre=True, scale=True, mask=True, transpose=False, dim=-1,
             sides=2):
    pos = model.W_pos
    if centre:
        pos = pos - pos.mean(-1, keepdim=True)
    scores = (pos @ model.QK[layer, head] @ pos.T).AB
    scores = scores / ln_scale ** sides
    if transpose:
        scores = scores.T
    if scale:
        scores = scores / model.cfg.d_head ** 0.5
    if mask:
        n = scores.shape[0]
        scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1), float("-inf"))
    return scores.softmax(dim)


@mutant(hint="did not centre")
def uncentred(model, layer, head, ln_scale=1.0):
    return _pattern(model, layer, head, ln_scale, centre=False)


@mutant(hint="sqrt(d_head)")
def unscaled(model, layer, head, ln_scale=1.0):
    return _pattern(model, layer, head, ln_scale, scale=False)


@mutant(hint="causal mask")
def unmasked(model, layer, head, ln_scale=1.0):
    return _pattern(model, layer, head, ln_scale, mask=False)


@mutant(hint="swapped queries and keys")
def transposed(model, layer, head, ln_scale=1.0):
    return _pattern(model, layer, head, ln_scale, transpose=True)


@mutant(hint="softmax over queries")
def softmax_over_queries(model, layer, head, ln_scale=1.0):
    return _pattern(model, layer, head, ln_scale, dim=-2)


@mutant(hint="left out ln_scale")
def ignores_ln_scale(model, layer, head, ln_scale=1.0):
    return _pattern(model, layer, head, ln_scale, sides=0)


@mutant(hint="divided by ln_scale once")
def ln_scale_on_one_side(model, layer, head, ln_scale=1.0):
    return _pattern(model, layer, head, ln_scale, sides=1)


@alternative
def through_queries_and_keys(model, layer, head, ln_scale=1.0):
    """Queries and keys of the positions, as the model would compute them (without biases)."""
    pos = (model.W_pos - model.W_pos.mean(-1, keepdim=True)) / ln_scale
    q = pos @ model.W_Q[layer, head]
    k = pos @ model.W_K[layer, head]
    scores = einops.einsum(q, k, "q d, k d -> q k") / q.shape[-1] ** 0.5
    n = scores.shape[0]
    return scores.masked_fill(torch.ones(n, n).triu(1).bool(), -1e9).softmax(-1)
