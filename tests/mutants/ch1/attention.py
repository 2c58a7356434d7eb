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
    scale_size = None  # None: cfg.d_head

    def forward(self, x):
        q = einsum(x, self.W_Q, "b s d, h d e -> b s h e") + self.b_Q
        k = einsum(x, self.W_K, "b s d, h d e -> b s h e") + self.b_K
        v = einsum(x, self.W_V, "b s d, h d e -> b s h e") + self.b_V
        scores = einsum(q, k, "b q h e, b k h e -> b h q k")
        if self.scale:
            scores = scores / math.sqrt(self.scale_size(self.cfg) if self.scale_size else self.cfg.d_head)
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


@mutant(hint="The bias b_O is missing")
class NoOutputBias(_Base):
    def forward(self, x):
        return super().forward(x) - self.b_O


@mutant(hint="n_heads * d_head = d_model")
class ScaleFromDModel(_Base):
    scale_size = staticmethod(lambda cfg: cfg.d_model // cfg.n_heads)


@mutant(hint="1/sqrt(d_model)")
class ScaleByDModel(_Base):
    scale_size = staticmethod(lambda cfg: cfg.d_model)


@mutant(hint="shape")
class SqueezedOutput(_Base):
    def forward(self, x):
        return super().forward(x).squeeze()


@mutant(hint="not connected to its parameters")
class ComputedWithoutGrad(_Base):
    def forward(self, x):
        with torch.no_grad():
            return super().forward(x)


@mutant(hint="gradient")
class DetachedPattern(_Base):
    """Right values, but no gradient reaches W_Q and W_K: the pattern is detached."""

    def forward(self, x):
        q = einsum(x, self.W_Q, "b s d, h d e -> b s h e") + self.b_Q
        k = einsum(x, self.W_K, "b s d, h d e -> b s h e") + self.b_K
        v = einsum(x, self.W_V, "b s d, h d e -> b s h e") + self.b_V
        n = x.shape[1]
        scores = einsum(q, k, "b q h e, b k h e -> b h q k") / math.sqrt(self.cfg.d_head)
        scores = scores.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1), IGNORE)
        z = einsum(scores.softmax(-1).detach(), v, "b h q k, b k h e -> b q h e")
        return einsum(z, self.W_O, "b q h e, h e d -> b q d") + self.b_O


@mutant(hint="differs only at")
class KeyBiasOnQueries(_Base):
    """Adds b_V to the output at the last position only: no named mistake, the report says where."""

    def forward(self, x):
        out = super().forward(x)
        return torch.cat([out[:, :-1], out[:, -1:] + 0.1], dim=1) if x.shape[1] > 1 else out + 0.1


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


@alternative
class WithAPerHeadLoop(Attention):
    def forward(self, x):
        s = x.shape[1]
        allowed = torch.tril(torch.ones(s, s, dtype=torch.bool))
        out = self.b_O.expand(x.shape[0], s, -1)
        for h in range(self.cfg.n_heads):
            q = x @ self.W_Q[h] + self.b_Q[h]
            k = x @ self.W_K[h] + self.b_K[h]
            v = x @ self.W_V[h] + self.b_V[h]
            scores = (q @ k.transpose(-1, -2)) / self.cfg.d_head ** 0.5
            pattern = scores.masked_fill(~allowed, float("-inf")).softmax(-1)
            out = out + (pattern @ v) @ self.W_O[h]
        return out
