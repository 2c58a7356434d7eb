"""Sequences where induction pays off: random spans that repeat, and text chunks from the offline corpus.

Two kinds of data, both returned as ``Int[Tensor, "batch seq"]`` that start with a BOS token:

- ``repeated_halves``: BOS, then ``half_len`` random tokens, then the same tokens again. The
  classic probe for induction heads: the first half is unpredictable, the second half is
  predictable only by looking back in context.
- ``periodic_random``: BOS, then a random span whose length (the period) varies from row to
  row, repeated until the sequence is full. Varying the period matters: with a fixed period a
  layer-0 head can learn "attend ``period`` positions back" from positions alone, and no
  induction circuit forms.
- ``corpus_chunks``: fixed-length chunks of the tokenised Python-docs corpus.
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["repeated_halves", "periodic_random", "corpus_token_stream", "corpus_chunks", "mixed_batch"]


def repeated_halves(batch: int, half_len: int, low: int, high: int, bos: int,
                    generator: torch.Generator | None = None) -> Tensor:
    """BOS + ``half_len`` tokens drawn uniformly from [low, high) + the same tokens again.

    Returns ``Int[Tensor, "batch 1+2*half_len"]``.
    """
    half = torch.randint(low, high, (batch, half_len), generator=generator)
    bos_column = torch.full((batch, 1), bos, dtype=torch.long)
    return torch.cat([bos_column, half, half], dim=1)


def periodic_random(batch: int, seq_len: int, low: int, high: int, bos: int, min_period: int,
                    max_period: int, generator: torch.Generator | None = None) -> Tensor:
    """BOS + a random span of random length in [min_period, max_period], tiled to ``seq_len - 1`` tokens.

    Returns ``Int[Tensor, "batch seq_len"]``.
    """
    periods = torch.randint(min_period, max_period + 1, (batch,), generator=generator)
    spans = torch.randint(low, high, (batch, max_period), generator=generator)
    positions = torch.arange(seq_len - 1)
    # Row b reads its span cyclically: token t comes from span index t mod period_b.
    index = positions[None, :] % periods[:, None]
    body = torch.gather(spans, 1, index)
    bos_column = torch.full((batch, 1), bos, dtype=torch.long)
    return torch.cat([bos_column, body], dim=1)


def corpus_token_stream(tokenizer) -> Tensor:
    """The whole offline corpus tokenised into one long 1-D tensor (documents joined, no BOS)."""
    from circuitlab.data.corpus import corpus_documents

    encoded = tokenizer(list(corpus_documents()), add_special_tokens=False)["input_ids"]  # one batched call
    return torch.tensor([token for document in encoded for token in document], dtype=torch.long)


def corpus_chunks(stream: Tensor, batch: int, seq_len: int, bos: int,
                  generator: torch.Generator | None = None) -> Tensor:
    """``batch`` random windows of ``seq_len - 1`` corpus tokens, each after a BOS token."""
    starts = torch.randint(0, len(stream) - seq_len, (batch,), generator=generator)
    index = starts[:, None] + torch.arange(seq_len - 1)[None, :]
    bos_column = torch.full((batch, 1), bos, dtype=torch.long)
    return torch.cat([bos_column, stream[index]], dim=1)


def mixed_batch(stream: Tensor, batch: int, seq_len: int, low: int, high: int, bos: int,
                repeated_fraction: float, min_period: int, max_period: int,
                generator: torch.Generator | None = None) -> Tensor:
    """A batch whose first rows are periodic random spans and the rest corpus text."""
    n_repeated = int(round(batch * repeated_fraction))
    parts = []
    if n_repeated:
        parts.append(periodic_random(n_repeated, seq_len, low, high, bos, min_period, max_period, generator))
    if batch - n_repeated:
        parts.append(corpus_chunks(stream, batch - n_repeated, seq_len, bos, generator))
    return torch.cat(parts, dim=0)
