"""Mutants and alternatives for ch2.verify_pattern."""
import torch
from einops import einsum

from circuitlab.grading.meta import alternative, mutant


def _scores(q, k):
    return einsum(q, k, "q h d, k h d -> h q k") / q.shape[-1] ** 0.5


@mutant(hint="sqrt(d_head)")
def unscaled(q, k):
    seq = q.shape[0]
    mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1)
    return einsum(q, k, "q h d, k h d -> h q k").masked_fill(mask, float("-inf")).softmax(-1)


@mutant(hint="causal mask")
def no_mask(q, k):
    return _scores(q, k).softmax(-1)


@mutant(hint="also hides the diagonal")
def masks_self(q, k):
    seq = q.shape[0]
    mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 0)
    return _scores(q, k).masked_fill(mask, float("-inf")).softmax(-1)


@mutant(hint="softmax runs over the query axis")
def softmax_over_queries(q, k):
    seq = q.shape[0]
    mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1)
    return _scores(q, k).masked_fill(mask, float("-inf")).softmax(-2)


@alternative
def with_tril_and_large_negative(q, k):
    seq = q.shape[0]
    keep = torch.tril(torch.ones(seq, seq)).bool()
    scores = torch.einsum("qhd,khd->hqk", q, k) / torch.tensor(q.shape[-1]).sqrt()
    return torch.where(keep, scores, torch.tensor(-1e9)).softmax(dim=-1)


@mutant(hint="sqrt(16)")
def hard_coded_d_head(q, k):
    seq = q.shape[0]
    mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1)
    return (einsum(q, k, "q h d, k h d -> h q k") / 4.0).masked_fill(mask, float("-inf")).softmax(-1)


@mutant(hint="shape")
def squeezes(q, k):
    # .squeeze() drops a head axis of size 1 (and a seq axis of size 1).
    q, k = q.squeeze(), k.squeeze()
    seq = q.shape[0]
    mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1)
    return (einsum(q, k, "q h d, k h d -> h q k") / q.shape[-1] ** 0.5).masked_fill(mask, float("-inf")).softmax(-1)


@mutant(hint="square root")
def divides_by_d_head(q, k):
    seq = q.shape[0]
    mask = torch.triu(torch.ones(seq, seq, dtype=torch.bool), 1)
    return (einsum(q, k, "q h d, k h d -> h q k") / q.shape[-1]).masked_fill(mask, float("-inf")).softmax(-1)


@alternative
def with_scaled_dot_product_attention(q, k):
    import torch.nn.functional as F

    seq, heads, _ = q.shape
    # The pattern is the attention applied to the identity "values": each output row is a row of weights.
    values = torch.eye(seq).expand(heads, seq, seq)
    return F.scaled_dot_product_attention(q.transpose(0, 1), k.transpose(0, 1), values, is_causal=True)
