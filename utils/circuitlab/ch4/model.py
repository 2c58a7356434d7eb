"""The grokking model: a one-layer TransformerLens-native transformer on ``a b =``.

No LayerNorm, a ReLU MLP, separate input (p + 1 tokens) and output (p answers)
vocabularies, and the attention biases frozen at zero.

``last_position_logits`` computes the same logits as ``model(tokens)[:, -1:]`` while
doing the work only where the loss looks. Without LayerNorm, the keys and values at a
position depend only on (token, position), so they come from small per-token tables
(d_vocab rows) instead of one row per example; only the query, the attention
output, the MLP and the unembedding run per example, and only at the last position.
"""
from __future__ import annotations

import math
from typing import Any

import einops
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

from circuitlab.models import native_model

__all__ = ["grokking_config", "make_grokking_model", "last_position_logits", "full_logits", "initialise"]


def grokking_config(p: int = 113, d_model: int = 128, n_heads: int = 4, d_mlp: int = 512) -> dict[str, Any]:
    """The TransformerLens config of the one-layer modular-addition model."""
    return {
        "n_layers": 1,
        "d_model": d_model,
        "n_heads": n_heads,
        "d_head": d_model // n_heads,
        "d_mlp": d_mlp,
        "n_ctx": 3,
        "d_vocab": p + 1,  # 0..p-1 and '=' (token p)
        "d_vocab_out": p,
        "act_fn": "relu",
        "normalization_type": None,
        "positional_embedding_type": "standard",
        # No init settings: make_grokking_model overwrites TransformerLens's initialisation with its own.
    }


# Parameters that stay at zero: attention biases (a key bias cannot change the pattern, so its
# gradient is pure rounding noise, which Adam would amplify) and the unembedding bias.
_FROZEN_AT_ZERO = ("attn", "head")


def initialise(model, seed: int) -> None:
    """Gaussian weights with standard deviation 1/sqrt(fan_in), from our own seeded generator.

    Owning the initialisation keeps a run reproducible across TransformerLens versions
    (their seeded init has changed between releases). Biases start at zero; the
    attention and unembedding biases are frozen there.
    """
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in model.named_parameters():
            if name.endswith("bias"):
                param.zero_()
                if any(part in name for part in _FROZEN_AT_ZERO):
                    param.requires_grad_(False)
                continue
            # Embeddings are stored [vocab, d_model] and linear weights [out, in]: either way the
            # second axis is the one a residual or input vector is summed over.
            fan_in = param.shape[1]
            param.copy_(torch.randn(param.shape, generator=generator) / math.sqrt(fan_in))


def make_grokking_model(p: int = 113, seed: int = 0, device: str | None = None, **sizes: int):
    """A freshly initialised grokking model (see :func:`initialise`), in training mode."""
    model = native_model(grokking_config(p=p, **sizes))
    initialise(model, seed)
    if device is not None:
        model.to(device)
    return model.train()


def full_logits(model, tokens: Int[Tensor, "batch 3"]) -> Float[Tensor, "batch 3 d_vocab_out"]:
    """The TransformerLens forward pass: logits at every position."""
    return model(tokens)


def _token_position_table(model, position: int) -> Float[Tensor, "d_vocab d_model"]:
    """The residual stream at ``position`` for every possible token there."""
    return model.W_E + model.W_pos[position]


def _attention_scale(model) -> float:
    # TransformerLens stores -1 to mean "the default, sqrt(d_head)".
    scale = model.cfg.attn_scale
    return scale if model.cfg.use_attn_scale and scale > 0 else model.cfg.d_head ** 0.5


def last_position_logits(model, tokens: Int[Tensor, "batch seq"]) -> Float[Tensor, "batch 1 d_vocab_out"]:
    """Logits at the last position only, equal to ``model(tokens)[:, -1:]`` (one-layer model, no LayerNorm).

    Shape (batch, 1, d_vocab_out): the position axis is kept so that the same loss
    function works on these logits and on the full ones.
    """
    n_pos = tokens.shape[1]
    n_heads = model.cfg.n_heads
    # Heads side by side: [d_model, head*d_head], so each projection is one matrix product.
    W_Q, W_K, W_V = (einops.rearrange(W[0], "head d_model d_head -> d_model (head d_head)")
                     for W in (model.W_Q, model.W_K, model.W_V))
    b_Q, b_K, b_V = (einops.rearrange(b[0], "head d_head -> (head d_head)") for b in (model.b_Q, model.b_K, model.b_V))
    W_O = einops.rearrange(model.W_O[0], "head d_head d_model -> (head d_head) d_model")

    # One table per position with a row per possible token: its key and value (and, at the last
    # position, its query and the residual stream itself), gathered per example by a single
    # embedding lookup. Fewer, wider gathers matter: the backward pass of a gather is a scatter-add,
    # and on a CPU that, not the matrix products, dominated the cost of an epoch.
    d = W_K.shape[1]
    keys, values = [], []
    for pos in range(n_pos):
        table = _token_position_table(model, pos)
        columns = [table @ W_K + b_K, table @ W_V + b_V]
        if pos == n_pos - 1:
            columns += [table @ W_Q + b_Q, table]
        rows = F.embedding(tokens[:, pos], torch.cat(columns, dim=-1))  # [batch, 2d (+ d + d_model)]
        keys.append(rows[:, :d])
        values.append(rows[:, d:2 * d])
    q_flat, resid_last = rows[:, 2 * d:3 * d], rows[:, 3 * d:]
    k = einops.rearrange(torch.stack(keys, dim=1), "batch pos (head d_head) -> batch pos head d_head", head=n_heads)
    v = einops.rearrange(torch.stack(values, dim=1), "batch pos (head d_head) -> batch pos head d_head", head=n_heads)
    q = einops.rearrange(q_flat, "batch (head d_head) -> batch 1 head d_head", head=n_heads)
    # Three keys per query: a broadcast product beats thousands of tiny matrix products.
    scores = (q * k).sum(-1)  # [batch pos head]
    # The last position sees every position, so no causal mask is needed here.
    pattern = torch.softmax(scores / _attention_scale(model), dim=1)
    z = (pattern.unsqueeze(-1) * v).sum(1)  # [batch head d_head]
    attn_out = einops.rearrange(z, "batch head d_head -> batch (head d_head)") @ W_O + model.b_O[0]

    resid_mid = resid_last + attn_out
    post = torch.relu(resid_mid @ model.W_in[0] + model.b_in[0])
    resid_post = resid_mid + post @ model.W_out[0] + model.b_out[0]
    logits = resid_post @ model.W_U + model.b_U
    return logits.unsqueeze(1)
