"""Modular addition: every pair (a, b) with 0 <= a, b < p, written as the three tokens ``a b =``.

Token ``p`` stands for ``=``, so the input vocabulary has p + 1 tokens and the output
vocabulary p (the answer ``(a + b) mod p``). Row ``a * p + b`` of every tensor holds
the pair (a, b), so anything computed on all pairs reshapes to a (p, p) grid with
``einops.rearrange(x, "(a b) ... -> a b ...", a=p)``.

The train/test split is a seeded random permutation of the p² rows: the same
(p, frac_train, seed) always gives the same split, on every machine.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["ModularAdditionData", "all_pairs", "seeded_split", "modular_addition_data"]


def all_pairs(p: int) -> tuple[Tensor, Tensor]:
    """Tokens ``a b =`` for every pair, shape (p*p, 3), and the labels (a + b) mod p, shape (p*p,)."""
    a = torch.arange(p).repeat_interleave(p)  # a changes slowest: row a*p + b
    b = torch.arange(p).repeat(p)
    equals = torch.full_like(a, p)
    tokens = torch.stack([a, b, equals], dim=1)
    labels = (a + b) % p
    return tokens, labels


def seeded_split(n: int, frac_train: float, seed: int) -> tuple[Tensor, Tensor]:
    """Disjoint train and test row indices covering range(n); the first int(frac_train * n) of a
    seeded permutation are the training rows."""
    generator = torch.Generator().manual_seed(seed)
    order = torch.randperm(n, generator=generator)
    n_train = int(frac_train * n)
    return order[:n_train], order[n_train:]


@dataclass
class ModularAdditionData:
    """All p² pairs with a train/test split (indices into the rows of ``tokens``)."""

    tokens: Tensor  # (p*p, 3) long
    labels: Tensor  # (p*p,) long
    train_indices: Tensor  # (n_train,) long
    test_indices: Tensor  # (n_test,) long

    @property
    def p(self) -> int:
        return int(self.tokens[0, 2])

    @property
    def train_tokens(self) -> Tensor:
        return self.tokens[self.train_indices]

    @property
    def train_labels(self) -> Tensor:
        return self.labels[self.train_indices]

    @property
    def test_tokens(self) -> Tensor:
        return self.tokens[self.test_indices]

    @property
    def test_labels(self) -> Tensor:
        return self.labels[self.test_indices]

    def to(self, device: str | torch.device) -> "ModularAdditionData":
        return ModularAdditionData(*(t.to(device) for t in (self.tokens, self.labels, self.train_indices,
                                                             self.test_indices)))


def modular_addition_data(p: int = 113, frac_train: float = 0.3, seed: int = 0) -> ModularAdditionData:
    """The dataset the shipped grokking checkpoints were trained on (for their p, frac_train, seed)."""
    tokens, labels = all_pairs(p)
    train, test = seeded_split(p * p, frac_train, seed)
    return ModularAdditionData(tokens, labels, train, test)
