"""The chapter's models and fixed inputs, loaded once (graders and the notebook share them).

Graders compare a learner's function with the reference on three models that differ in every
free dimension, so a solution tuned to one of them (a hard-coded layer or head count, d_head,
vocabulary, context length or LayerNorm eps, or a forgotten bias) fails on another:

=========  ========  =======  ======  =======  =====  =====  =====  ======================
name       n_layers  n_heads  d_head  d_model  vocab  n_ctx  eps    weights
=========  ========  =======  ======  =======  =====  =====  =====  ======================
shipped    2         4        16      64       1024   64     1e-5   trained (attn_only_2l)
random     3         3        12      48       50     40     1e-2   random, random biases
wide       2         5        8       32       97     36     1e-3   random, random biases
=========  ========  =======  ======  =======  =====  =====  =====  ======================

In ``random`` the heads together are narrower than the residual stream (3 * 12 < 48), in
``wide`` wider (5 * 8 > 32). Only the attention biases can be random: the chapter's
architecture has no unembedding bias (``model.b_U`` is all zeros).
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from circuitlab.ch2.training import SHIPPED_NAME, architecture
from circuitlab.data.repeated import repeated_halves

MODEL_NAMES = ("shipped", "random", "wide")

# name -> (architecture overrides, vocabulary, context): see the table above.
RANDOM_MODELS: dict[str, tuple[dict, int, int]] = {
    "random": (dict(n_layers=3, n_heads=3, d_head=12, d_model=48, eps=1e-2), 50, 40),
    "wide": (dict(n_layers=2, n_heads=5, d_head=8, d_model=32, eps=1e-3), 97, 36),
}


def frozen_shipped(name: str):
    """A shipped checkpoint (with its tokenizer), loaded afresh, every parameter frozen."""
    from circuitlab.models import load_shipped

    model = load_shipped(name)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


@lru_cache(maxsize=1)
def shipped_model():
    """The shipped 2-layer attention-only model (with its BPE tokenizer), in eval mode."""
    return frozen_shipped(SHIPPED_NAME)


@lru_cache(maxsize=None)
def random_model(name: str = "random"):
    """An untrained model of the chapter's kind with its own dimensions and random attention biases."""
    from circuitlab.models import native_model

    overrides, d_vocab, n_ctx = RANDOM_MODELS[name]
    config = architecture(d_vocab, n_ctx, seed=7)
    config.update(overrides)
    model = native_model(config)
    generator = torch.Generator().manual_seed(len(name))
    with torch.no_grad():
        for parameter_name, parameter in model.named_parameters():
            parameter.requires_grad_(False)
            # Zero biases would hide a forgotten (or wrongly added) b_Q, b_K, b_V or b_O.
            if parameter_name.endswith("bias"):
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.2)
    return model


def model_named(name: str):
    return shipped_model() if name == "shipped" else random_model(name)


def describe_model(name: str) -> str:
    """The model's name and dimensions, for failure messages the learner can reproduce."""
    cfg = model_named(name).cfg
    kind = "trained" if name == "shipped" else "random"
    return (f"the {kind} model '{name}' ({cfg.n_layers} layers, {cfg.n_heads} heads of d_head {cfg.d_head}, "
            f"d_model {cfg.d_model}, d_vocab {cfg.d_vocab}, eps {cfg.eps:g})")


def first_ordinary_token(model) -> int:
    """The lowest token id that is not a special token (BOS is 0, padding 1 in the shipped tokenizer)."""
    return 2 if model.tokenizer is not None else 1


@lru_cache(maxsize=64)
def repeated_inputs(name: str, batch: int, half_len: int, seed: int = 0) -> Tensor:
    """Fixed repeated-token batch for a model: BOS (token 0) + random half + the same half."""
    model = model_named(name)
    generator = torch.Generator().manual_seed(seed)
    return repeated_halves(batch, half_len, first_ordinary_token(model), model.cfg.d_vocab, 0, generator)


TEXT_PROMPT = (
    "The with statement is used to wrap the execution of a block with methods defined by a context manager. "
    "A context manager is an object."
)


@lru_cache(maxsize=64)
def cached_run(name: str, kind: str = "repeated", batch: int = 4, half_len: int = 12):
    """(tokens, logits, cache) of a model on fixed input: ``kind`` is 'repeated' or 'text' (shipped only)."""
    model = model_named(name)
    if kind == "text":
        tokens = model.to_tokens(TEXT_PROMPT)
    else:
        tokens = repeated_inputs(name, batch, half_len)
    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
    return tokens, logits, cache


@lru_cache(maxsize=16)
def reference_ablation_scores(name: str, batch: int, half_len: int, seed: int, mean_ablate: bool) -> Tensor:
    """The reference ablation scores on fixed inputs, computed once per session (each costs many forward passes)."""
    from circuitlab.ch2.reference import ablation_scores

    return ablation_scores(model_named(name), repeated_inputs(name, batch, half_len, seed), half_len, mean_ablate)
