"""Reference solutions for chapter 0."""
from __future__ import annotations

import plotly.graph_objects as go
import torch
from einops import einsum, rearrange, reduce, repeat
from torch import Tensor


def split_heads(x: Tensor, n_heads: int) -> Tensor:
    """(batch, pos, n_heads * d_head) -> (batch, pos, n_heads, d_head); head index varies slowest."""
    ### BEGIN SOLUTION
    return rearrange(x, "batch pos (n_heads d_head) -> batch pos n_heads d_head", n_heads=n_heads)
    ### END SOLUTION


def average_pattern(pattern: Tensor) -> Tensor:
    """(batch, head, q_pos, k_pos) -> (q_pos, k_pos): the mean over batch and heads."""
    ### BEGIN SOLUTION
    return reduce(pattern, "batch head q_pos k_pos -> q_pos k_pos", "mean")
    ### END SOLUTION


def broadcast_positions(pos_embed: Tensor, batch: int) -> Tensor:
    """(pos, d_model) -> (batch, pos, d_model): the same positional embedding for every sequence."""
    ### BEGIN SOLUTION
    return repeat(pos_embed, "pos d_model -> batch pos d_model", batch=batch)
    ### END SOLUTION


def batched_matmul(a: Tensor, b: Tensor) -> Tensor:
    """(batch, i, j) and (batch, j, k) -> (batch, i, k)."""
    ### BEGIN SOLUTION
    return einsum(a, b, "batch i j, batch j k -> batch i k")
    ### END SOLUTION


def attention_scores(q: Tensor, k: Tensor) -> Tensor:
    """q, k: (batch, pos, head, d_head) -> scores (batch, head, q_pos, k_pos), scaled by 1/sqrt(d_head)."""
    ### BEGIN SOLUTION
    d_head = q.shape[-1]
    scores = einsum(q, k, "batch q_pos head d_head, batch k_pos head d_head -> batch head q_pos k_pos")
    return scores / d_head**0.5
    ### END SOLUTION


def previous_token_pattern(seq_len: int) -> Tensor:
    """(seq_len, seq_len) pattern: each position attends fully to the one before; position 0 to itself."""
    ### BEGIN SOLUTION
    pattern = torch.zeros(seq_len, seq_len)
    positions = torch.arange(seq_len)
    pattern[positions, (positions - 1).clamp(min=0)] = 1.0
    return pattern
    ### END SOLUTION


def loss_curve(losses: list[float], title: str = "Training loss") -> go.Figure:
    """A line plot of losses against step (0, 1, 2, ...), log-scaled y axis, labelled axes."""
    ### BEGIN SOLUTION
    fig = go.Figure(go.Scatter(x=list(range(len(losses))), y=list(losses), mode="lines", name="loss"))
    fig.update_layout(title=title, xaxis_title="step", yaxis_title="loss")
    fig.update_yaxes(type="log")
    return fig
    ### END SOLUTION


def pick_targets(log_probs: Tensor, targets: Tensor) -> Tensor:
    """log_probs (batch, seq, vocab), targets (batch, seq) torch.long -> (batch, seq): log_probs[b, s, targets[b, s]].

    Raises TypeError, naming the dtype, when targets are not torch.long (torch.gather itself accepts int32).
    """
    ### BEGIN SOLUTION
    if targets.dtype != torch.long:
        raise TypeError(f"targets must be torch.long (token ids), not {targets.dtype}")
    return log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    ### END SOLUTION


def final_logits(logits: Tensor, end_pos: Tensor) -> Tensor:
    """logits (batch, seq, vocab), end_pos (batch,) torch.long -> (batch, vocab): logits[b, end_pos[b]]."""
    ### BEGIN SOLUTION
    rows = torch.arange(logits.shape[0], device=logits.device)
    return logits[rows, end_pos]
    ### END SOLUTION


def logsumexp(x: Tensor, dim: int) -> Tensor:
    """log(sum(exp(x))) over ``dim`` (removed), without overflow; a slice of only -inf gives -inf."""
    ### BEGIN SOLUTION
    biggest = x.amax(dim=dim, keepdim=True)
    # A slice of only -inf has max -inf, and x - max would be -inf - (-inf) = NaN: shift it by 0 instead.
    shift = torch.where(torch.isfinite(biggest), biggest, torch.zeros_like(biggest))
    return (x - shift).exp().sum(dim).log() + shift.squeeze(dim)
    ### END SOLUTION


def log_softmax(x: Tensor, dim: int = -1) -> Tensor:
    """log(softmax(x)) over ``dim``, same shape and dtype as x, stable for large |x|."""
    ### BEGIN SOLUTION
    return x - logsumexp(x, dim).unsqueeze(dim)
    ### END SOLUTION


def cross_entropy(logits: Tensor, targets: Tensor) -> Tensor:
    """logits (*batch, n_classes), targets (*batch) torch.long -> 0-dim tensor: mean of -log_softmax at the targets.

    Raises TypeError, naming the dtype, when targets are not torch.long.
    """
    ### BEGIN SOLUTION
    if targets.dtype != torch.long:
        raise TypeError(f"targets must be torch.long (class indices), not {targets.dtype}")
    log_probs = log_softmax(logits, dim=-1)
    return -log_probs.gather(-1, targets.unsqueeze(-1)).mean()
    ### END SOLUTION
