"""The chapter's models and fixed inputs, loaded once (graders and the notebook share them).

Graders compare a learner's function with the reference on two models: the shipped, trained
``attn_only_2l`` and an untrained random model of the same architecture with a different
vocabulary and context. A solution tuned to one of them (a hard-coded vocabulary size, head
count or sequence length) fails on the other.
"""
from __future__ import annotations

from functools import lru_cache

import torch
from torch import Tensor

from circuitlab.ch2.training import SHIPPED_NAME, architecture
from circuitlab.data.repeated import repeated_halves

RANDOM_VOCAB = 50
RANDOM_CTX = 64


@lru_cache(maxsize=1)
def shipped_model():
    """The shipped 2-layer attention-only model (with its BPE tokenizer), in eval mode."""
    from circuitlab.models import load_shipped

    model = load_shipped(SHIPPED_NAME)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


@lru_cache(maxsize=1)
def random_model():
    """An untrained model of the same architecture: vocabulary 50, context 64, fixed seed."""
    from circuitlab.models import native_model

    model = native_model(architecture(RANDOM_VOCAB, RANDOM_CTX, seed=7))
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    return model


def model_named(name: str):
    return shipped_model() if name == "shipped" else random_model()


def first_ordinary_token(model) -> int:
    """The lowest token id that is not a special token (BOS is 0, padding 1 in the shipped tokenizer)."""
    return 2 if model.tokenizer is not None else 1


@lru_cache(maxsize=8)
def repeated_inputs(name: str, batch: int, half_len: int, seed: int = 0) -> Tensor:
    """Fixed repeated-token batch for a model: BOS (token 0) + random half + the same half."""
    model = model_named(name)
    generator = torch.Generator().manual_seed(seed)
    return repeated_halves(batch, half_len, first_ordinary_token(model), model.cfg.d_vocab, 0, generator)


TEXT_PROMPT = (
    "The with statement is used to wrap the execution of a block with methods defined by a context manager. "
    "A context manager is an object."
)


@lru_cache(maxsize=8)
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


@lru_cache(maxsize=8)
def reference_ablation_scores(name: str, batch: int, half_len: int, seed: int, mean_ablate: bool) -> Tensor:
    """The reference ablation scores on fixed inputs, computed once per session (each costs many forward passes)."""
    from circuitlab.ch2.reference import ablation_scores

    return ablation_scores(model_named(name), repeated_inputs(name, batch, half_len, seed), half_len, mean_ablate)
