"""Shared pieces of chapter 1's graders: small configs, models with known weights, and the mistakes to name."""
from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from circuitlab.ch1 import reference as ref
from circuitlab.grading.testing import GradingFailure, run_learner, seeded

# Two shapes, so that an implementation tuned to one (or mixing up d_model and d_head) fails.
CONFIGS = {
    "small": ref.TransformerConfig(d_model=12, n_layers=2, n_heads=3, d_head=4, d_mlp=20, d_vocab=17, n_ctx=10),
    "wide": ref.TransformerConfig(d_model=16, n_layers=1, n_heads=2, d_head=6, d_mlp=24, d_vocab=29, n_ctx=12),
}


def randomize_(module: nn.Module, seed: int, std: float = 0.5) -> nn.Module:
    """Give every parameter (LayerNorm scales and all biases included) random values, so no term is invisible."""
    with seeded(seed), torch.no_grad():
        for name, param in module.named_parameters():
            if name.endswith(".w") or name == "w":
                param.copy_(1.0 + 0.3 * torch.randn_like(param))
            else:
                param.copy_(std * torch.randn_like(param))
    return module


def reference_module(cls_name: str, cfg: ref.TransformerConfig, seed: int = 0) -> nn.Module:
    """A reference module of the given class with random, non-trivial weights."""
    with seeded(seed):
        module = getattr(ref, cls_name)(cfg)
    return randomize_(module, seed).eval()


def learner_module(cls: Any, cfg: ref.TransformerConfig, reference: nn.Module) -> nn.Module:
    """Build the learner's module and load the reference's weights into it (same parameter names)."""
    module = run_learner(cls, cfg, what=f"constructing your {getattr(cls, '__name__', 'class')}")
    if not isinstance(module, nn.Module):
        raise GradingFailure(f"Your class should build an nn.Module, but it built a {type(module).__name__}.")
    wanted = dict(reference.named_parameters())
    mine = dict(module.named_parameters())
    missing = sorted(set(wanted) - set(mine))
    if missing:
        raise GradingFailure(
            f"Your module has no parameter(s) {', '.join(missing[:4])}. Keep the __init__ of the skeleton: the "
            "checks load known weights into parameters with those names."
        )
    for name, value in wanted.items():
        if mine[name].shape != value.shape:
            raise GradingFailure(f"Parameter {name} has shape {tuple(mine[name].shape)}, expected {tuple(value.shape)}.")
    with torch.no_grad():
        for name, value in wanted.items():
            mine[name].copy_(value)
    return module.eval()


def random_residual(cfg: ref.TransformerConfig, batch: int, seq: int, seed: int, scale: float = 1.0) -> Tensor:
    with seeded(seed):
        return scale * torch.randn(batch, seq, cfg.d_model)


def random_tokens(cfg: ref.TransformerConfig, batch: int, seq: int, seed: int) -> Tensor:
    with seeded(seed):
        return torch.randint(0, cfg.d_vocab, (batch, seq))


# --------------------------------------------------------------------------- attention, with each mistake


def attention_variant(attn: nn.Module, x: Tensor, *, scale: bool = True, softmax_dim: int = -1,
                      mask: str = "causal") -> Tensor:
    """The reference attention computation with one deliberate change (used to name a learner's mistake)."""
    q = torch.einsum("bsd,hde->bshe", x, attn.W_Q) + attn.b_Q
    k = torch.einsum("bsd,hde->bshe", x, attn.W_K) + attn.b_K
    v = torch.einsum("bsd,hde->bshe", x, attn.W_V) + attn.b_V
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k)
    if scale:
        scores = scores / math.sqrt(attn.cfg.d_head)
    scores = mask_variant(scores, mask)
    pattern = scores.softmax(dim=softmax_dim)
    z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
    return torch.einsum("bqhe,hed->bqd", z, attn.W_O) + attn.b_O


def mask_variant(scores: Tensor, kind: str) -> Tensor:
    """The causal mask, and the ways it goes wrong."""
    n_q, n_k = scores.shape[-2:]
    ones = torch.ones(n_q, n_k, dtype=torch.bool)
    masks = {
        "causal": torch.triu(ones, diagonal=1),
        "diagonal_too": torch.triu(ones, diagonal=0),   # off by one: a token may not see itself
        "one_ahead": torch.triu(ones, diagonal=2),      # off by one: a token sees the next one
        "wrong_axis": torch.tril(ones, diagonal=-1),    # hides the past instead of the future
        "none": torch.zeros_like(ones),
    }
    if kind == "zero":
        return scores.masked_fill(masks["causal"], 0.0)
    return scores.masked_fill(masks[kind], ref.IGNORE)


# --------------------------------------------------------------------------- a TransformerLens twin


@lru_cache(maxsize=2)
def tl_twin_of(cfg_name: str, seed: int = 0):
    """A random TransformerLens-native model with the shape of ``CONFIGS[cfg_name]`` (built once per process)."""
    from circuitlab.ch1.equivalence import tl_twin

    model = tl_twin(CONFIGS[cfg_name], seed=seed)
    # Random LayerNorm scales and biases too, so that a LayerNorm mistake shows in the logits.
    with seeded(seed), torch.no_grad():
        for name, param in model.state_dict().items():
            if ("ln" in name) and param.is_floating_point():
                param.copy_((1.0 if name.endswith("weight") else 0.0) + 0.3 * torch.randn_like(param))
    return model


def sampling_model(seed: int = 0, cfg_name: str = "small") -> nn.Module:
    """A reference DemoTransformer with weights large enough that its predictions depend on the context."""
    return reference_module("DemoTransformer", CONFIGS[cfg_name], seed=seed)


def gelu_exact(x: Tensor) -> Tensor:
    return F.gelu(x)
