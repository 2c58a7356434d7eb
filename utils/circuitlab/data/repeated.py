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
- ``repeat_rich_starts``: the start positions of the corpus windows in which bigrams repeat most
  often, so that training on them rewards induction more (the text itself is unchanged).
"""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["repeated_halves", "periodic_random", "corpus_token_stream", "corpus_chunks", "mixed_batch",
           "repeated_bigram_share", "repeat_rich_starts"]


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
                  generator: torch.Generator | None = None, starts_pool: Tensor | None = None) -> Tensor:
    """``batch`` random windows of ``seq_len - 1`` corpus tokens, each after a BOS token.

    Windows start anywhere, or, given ``starts_pool``, at positions drawn from it."""
    if starts_pool is None:
        starts = torch.randint(0, len(stream) - seq_len, (batch,), generator=generator)
    else:
        starts = starts_pool[torch.randint(0, len(starts_pool), (batch,), generator=generator)]
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


def repeated_bigram_share(windows: Tensor, d_vocab: int) -> Tensor:
    """For each row of ``Int[Tensor, "n length"]``, the share of its bigrams that already occurred earlier in it.

    That is the share of positions where "find the last time this token came, and predict what came
    next" can be right: an upper bound on what induction earns in that window. Returns ``Float[Tensor, "n"]``.
    """
    bigrams = windows[:, :-1] * d_vocab + windows[:, 1:]
    ordered, _ = bigrams.sort(dim=1)
    # After sorting, each bigram's later occurrences sit next to an equal value.
    return (ordered[:, 1:] == ordered[:, :-1]).sum(dim=1) / bigrams.shape[1]


def repeat_rich_starts(stream: Tensor, seq_len: int, d_vocab: int, keep: float, stride: int = 32) -> Tensor:
    """Start positions (every ``stride`` tokens) of the ``keep`` share of windows richest in repeated bigrams.

    ``keep=1`` returns every start. On ``pydocs+source`` at BPE 512 and ``seq_len`` 128 the mean
    share of repeated bigrams is 0.23 over all windows and 0.37 over the richest third.
    """
    if not 0 < keep <= 1:
        raise ValueError(f"keep must be in (0, 1], not {keep}")
    starts = torch.arange(0, len(stream) - seq_len, stride)
    windows = stream[starts[:, None] + torch.arange(seq_len - 1)[None, :]]
    share = repeated_bigram_share(windows, d_vocab)
    kept = share.topk(max(1, int(round(keep * len(starts))))).indices
    return starts[kept.sort().values]
