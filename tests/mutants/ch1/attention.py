"""Mutants and alternatives for ch1.attention."""
import math

import torch
import torch.nn.functional as F
from einops import einsum, rearrange

from circuitlab.ch1.reference import IGNORE, Attention
from circuitlab.grading.meta import alternative, mutant


class _Base(Attention):
    """Reference attention with switches for one mistake at a time."""

    scale = True
    softmax_dim = -1
    fill = IGNORE
    diagonal = 1

    def forward(self, x):
        q = einsum(x, self.W_Q, "b s d, h d e -> b s h e") + self.b_Q
        k = einsum(x, self.W_K, "b s d, h d e -> b s h e") + self.b_K
        v = einsum(x, self.W_V, "b s d, h d e -> b s h e") + self.b_V
        scores = einsum(q, k, "b q h e, b k h e -> b h q k")
        if self.scale:
            scores = scores / math.sqrt(self.cfg.d_head)
        n = x.shape[1]
        scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), self.diagonal), self.fill)
        z = einsum(scores.softmax(self.softmax_dim), v, "b h q k, b k h e -> b q h e")
        return einsum(z, self.W_O, "b q h e, h e d -> b q d") + self.b_O


@mutant(hint="1/sqrt(d_head)")
class NoScale(_Base):
    scale = False


@mutant(hint="softmax is over the query axis")
class SoftmaxOverQueries(_Base):
    softmax_dim = -2


@mutant(hint="0 instead of a large negative value")
class MaskFillsZero(_Base):
    fill = 0.0


@mutant(hint="off by one")
class MaskHidesDiagonal(_Base):
    diagonal = 0


@mutant(hint="bias terms")
class NoOutputBias(_Base):
    def forward(self, x):
        return super().forward(x) - self.b_O


@alternative
class WithMatmul(Attention):
    def forward(self, x):
        b, s, _ = x.shape
        q = (x.unsqueeze(1) @ self.W_Q.unsqueeze(0)) + self.b_Q[None, :, None]  # b h s e
        k = (x.unsqueeze(1) @ self.W_K.unsqueeze(0)) + self.b_K[None, :, None]
        v = (x.unsqueeze(1) @ self.W_V.unsqueeze(0)) + self.b_V[None, :, None]
        scores = q @ k.transpose(-1, -2) / self.cfg.d_head ** 0.5
        causal = torch.tril(torch.ones(s, s))
        scores = scores + (1 - causal) * IGNORE
        z = scores.softmax(-1) @ v  # b h s e
        return (z @ self.W_O.unsqueeze(0)).sum(1) + self.b_O


@alternative
class WithScaledDotProductAttention(Attention):
    def forward(self, x):
        q = torch.einsum("bsd,hde->bhse", x, self.W_Q) + self.b_Q[:, None]
        k = torch.einsum("bsd,hde->bhse", x, self.W_K) + self.b_K[:, None]
        v = torch.einsum("bsd,hde->bhse", x, self.W_V) + self.b_V[:, None]
        z = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        w_o = rearrange(self.W_O, "h e d -> (h e) d")
        return rearrange(z, "b h s e -> b s (h e)") @ w_o + self.b_O
