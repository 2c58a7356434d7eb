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

# Three shapes that differ in every free dimension (layers, heads, d_head with n_heads * d_head equal to
# d_model or not, more heads than d_head, vocabulary, context, eps), so that an implementation tuned to
# one, or one that mixes up d_model and n_heads * d_head, or hard-codes eps, fails on another.
CONFIGS = {
    "small": ref.TransformerConfig(d_model=12, n_layers=2, n_heads=3, d_head=4, d_mlp=20, d_vocab=17, n_ctx=10),
    "wide": ref.TransformerConfig(d_model=16, n_layers=1, n_heads=2, d_head=6, d_mlp=24, d_vocab=29, n_ctx=12,
                                  layer_norm_eps=1e-3),
    "odd": ref.TransformerConfig(d_model=10, n_layers=3, n_heads=4, d_head=3, d_mlp=14, d_vocab=23, n_ctx=9,
                                 layer_norm_eps=0.05),
}

# (config, batch, seq) cases for the modules: batch 1 (a bare .squeeze() fails), seq 1, non-square sizes.
MODULE_CASES = [("small", 2, 6), ("wide", 1, 9), ("odd", 3, 1), ("odd", 1, 7)]


def describe_config(cfg_name: str, batch: int | None = None, seq: int | None = None) -> str:
    """'config "odd" (d_model=10, n_heads=4, d_head=3, ...), batch 1, seq 7': names the input of a failure."""
    cfg = CONFIGS[cfg_name]
    sizes = (f"d_model={cfg.d_model}, n_layers={cfg.n_layers}, n_heads={cfg.n_heads}, d_head={cfg.d_head}, "
             f"d_mlp={cfg.d_mlp}, d_vocab={cfg.d_vocab}, n_ctx={cfg.n_ctx}, layer_norm_eps={cfg.layer_norm_eps:g}")
    where = f'config "{cfg_name}" ({sizes})'
    if batch is not None:
        where += f", batch {batch}"
    if seq is not None:
        where += f", seq {seq}"
    return where


def expect_same_gradients(learner: nn.Module, reference: nn.Module, make_input: Any, *, what: str,
                          float_input: bool = True) -> None:
    """Back-propagate the same random function of both modules' outputs; parameter (and input) gradients must match.

    Catches an output computed through .detach(), .data, torch.no_grad() or NumPy: right values, no training.
    ``make_input()`` returns a fresh input each call (so the two graphs share nothing).
    """
    from circuitlab.grading.testing import expect_grads_close

    learner.zero_grad(set_to_none=True)
    reference.zero_grad(set_to_none=True)
    x_mine, x_ref = make_input(), make_input()
    if float_input:
        x_mine.requires_grad_(True)
        x_ref.requires_grad_(True)
    out_ref = reference(x_ref)
    with seeded(7):
        cotangent = torch.randn_like(out_ref)
    (out_ref * cotangent).sum().backward()
    out = run_learner(learner, x_mine, what=f"your module on {what}")
    if not isinstance(out, Tensor) or out.shape != out_ref.shape:
        raise GradingFailure(f"Your module's output on {what} has the wrong type or shape.")
    if not out.requires_grad:
        raise GradingFailure(
            f"Your module's output on {what} is not connected to its parameters: no gradient can flow back. "
            "Was .detach(), .data, .item(), torch.no_grad() or a NumPy step used inside forward?"
        )
    run_learner(lambda: (out * cotangent).sum().backward(), what="back-propagating through your module")
    try:
        expect_grads_close(learner, reference, what="the gradient", context=what)
        if float_input:
            expect_grads_close({"the input": x_mine.grad}, {"the input": x_ref.grad}, what="the gradient",
                               context=what)
    except GradingFailure as failure:
        if not torch.allclose(out.detach(), out_ref.detach(), atol=1e-4, rtol=1e-3):
            raise GradingFailure(f"{failure} (The outputs differ too: fix them first.)") from None
        raise GradingFailure(
            f"{failure} Your outputs are right, so look for a step that stops or bends the gradient: .detach(), "
            ".data, a value computed under torch.no_grad(), or a statistic treated as a constant."
        ) from None
    learner.zero_grad(set_to_none=True)
    reference.zero_grad(set_to_none=True)


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
                      mask: str = "causal", scale_size: float | None = None, without: str = "") -> Tensor:
    """The reference attention computation with one deliberate change (used to name a learner's mistake).

    ``scale_size``: divide the scores by sqrt(scale_size) instead of sqrt(d_head). ``without``: a bias left out.
    """
    def bias(name: str) -> Tensor:
        return torch.zeros_like(getattr(attn, name)) if name == without else getattr(attn, name)

    q = torch.einsum("bsd,hde->bshe", x, attn.W_Q) + bias("b_Q")
    k = torch.einsum("bsd,hde->bshe", x, attn.W_K) + bias("b_K")
    v = torch.einsum("bsd,hde->bshe", x, attn.W_V) + bias("b_V")
    scores = torch.einsum("bqhe,bkhe->bhqk", q, k)
    if scale:
        scores = scores / math.sqrt(attn.cfg.d_head if scale_size is None else scale_size)
    scores = mask_variant(scores, mask)
    pattern = scores.softmax(dim=softmax_dim)
    z = torch.einsum("bhqk,bkhe->bqhe", pattern, v)
    return torch.einsum("bqhe,hed->bqd", z, attn.W_O) + bias("b_O")


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
