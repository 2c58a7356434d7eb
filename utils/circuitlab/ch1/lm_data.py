"""Language-model data for chapter 1: the offline Python-docs corpus, tokenized and cut into windows.

The tokenizer is a byte-level BPE trained on the corpus by :mod:`circuitlab.ch1.train_lm`
and shipped at ``circuitlab/models/checkpoints/ch1-pydocs-lm/tokenizer``. Documents are
split into train and validation *by document* (every tenth goes to validation), so no
sentence is seen in both.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import torch
from jaxtyping import Int
from torch import Tensor

from circuitlab.models import CHECKPOINT_DIR

__all__ = ["TOKENIZER_NAME", "tokenizer_dir", "load_ch1_tokenizer", "TokenSplits", "token_splits", "windows",
           "random_batch"]

CHECKPOINT_NAME = "ch1-pydocs-lm"
TOKENIZER_NAME = "circuitlab-ch1-bpe"
VALIDATION_EVERY = 10  # every tenth document is held out


def tokenizer_dir() -> Path:
    return CHECKPOINT_DIR / CHECKPOINT_NAME / "tokenizer"


@lru_cache(maxsize=1)
def load_ch1_tokenizer():
    """The chapter's shipped BPE tokenizer (2048 tokens; ``<|bos|>`` is prepended to every text)."""
    from circuitlab.models import load_tokenizer

    directory = tokenizer_dir()
    if not directory.exists():
        raise FileNotFoundError(f"No tokenizer at {directory}; run `python -m circuitlab.ch1.train_lm --tokenizer-only`.")
    return load_tokenizer(directory)


@dataclass(frozen=True)
class TokenSplits:
    """One long token stream per split: documents joined, each starting with ``<|bos|>``."""

    train: Int[Tensor, "n_train_tokens"]
    validation: Int[Tensor, "n_validation_tokens"]


def _encode_documents(tokenizer, documents: list[str]) -> Tensor:
    encoded = tokenizer(documents, add_special_tokens=True)["input_ids"]  # bos + text, per document
    return torch.tensor([token for document in encoded for token in document], dtype=torch.long)


@lru_cache(maxsize=1)
def token_splits() -> TokenSplits:
    """The corpus tokenized with the shipped tokenizer, split by document into train and validation."""
    from circuitlab.data.corpus import corpus_documents

    documents = list(corpus_documents())
    tokenizer = load_ch1_tokenizer()
    train_docs = [d for i, d in enumerate(documents) if i % VALIDATION_EVERY != VALIDATION_EVERY - 1]
    validation_docs = [d for i, d in enumerate(documents) if i % VALIDATION_EVERY == VALIDATION_EVERY - 1]
    return TokenSplits(_encode_documents(tokenizer, train_docs), _encode_documents(tokenizer, validation_docs))


def windows(stream: Int[Tensor, "n"], seq_len: int) -> Int[Tensor, "n_windows seq_len"]:
    """Cut a token stream into non-overlapping windows of ``seq_len`` (the ragged end is dropped)."""
    n_windows = stream.shape[0] // seq_len
    return stream[: n_windows * seq_len].view(n_windows, seq_len)


def random_batch(stream: Int[Tensor, "n"], batch_size: int, seq_len: int,
                 generator: torch.Generator | None = None) -> Int[Tensor, "batch seq_len"]:
    """``batch_size`` windows starting at random offsets: every step sees text cut in a new place."""
    starts = torch.randint(0, stream.shape[0] - seq_len, (batch_size,), generator=generator)
    offsets = torch.arange(seq_len)
    return stream[starts[:, None] + offsets[None, :]]
