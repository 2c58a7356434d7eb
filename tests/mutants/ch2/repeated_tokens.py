"""Mutants and alternatives for ch2.repeated_tokens."""
import numpy as np
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="repeat the first exactly")
def shifted_repeat(batch, half_len, low, high, bos):
    half = torch.randint(low, high, (batch, half_len))
    return torch.cat([torch.full((batch, 1), bos), half, half.roll(1, dims=1)], dim=1)


@mutant(hint="shape")
def forgets_bos(batch, half_len, low, high, bos):
    half = torch.randint(low, high, (batch, half_len))
    return torch.cat([half, half], dim=1)


@mutant(hint="Most rows are identical")
def one_row_for_all(batch, half_len, low, high, bos):
    half = torch.randint(low, high, (1, half_len)).expand(batch, half_len)
    return torch.cat([torch.full((batch, 1), bos), half, half], dim=1)


@mutant(hint="[low, high)")
def ignores_low(batch, half_len, low, high, bos):
    half = torch.randint(0, high, (batch, half_len))
    return torch.cat([torch.full((batch, 1), bos), half, half], dim=1)


@mutant(hint="range")
def includes_high(batch, half_len, low, high, bos):
    half = torch.randint(low, high + 1, (batch, half_len))
    return torch.cat([torch.full((batch, 1), bos), half, half], dim=1)


@alternative
def with_repeat(batch, half_len, low, high, bos):
    half = low + (torch.rand(batch, half_len) * (high - low)).long()
    return torch.cat([torch.full((batch, 1), bos, dtype=torch.long), half.repeat(1, 2)], dim=1)


@alternative
def with_numpy(batch, half_len, low, high, bos):
    half = np.random.randint(low, high, size=(batch, half_len))
    body = np.concatenate([half, half], axis=1)
    return torch.cat([torch.full((batch, 1), bos), torch.from_numpy(body)], dim=1)
