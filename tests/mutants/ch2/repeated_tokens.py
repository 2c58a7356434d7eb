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


@mutant(hint="torch's random generator")
def with_numpy(batch, half_len, low, high, bos):
    half = np.random.randint(low, high, size=(batch, half_len))
    body = np.concatenate([half, half], axis=1)
    return torch.cat([torch.full((batch, 1), bos), torch.from_numpy(body)], dim=1)


@mutant(hint="torch.long")
def int32_tokens(batch, half_len, low, high, bos):
    half = torch.randint(low, high, (batch, half_len), dtype=torch.int32)
    return torch.cat([torch.full((batch, 1), bos, dtype=torch.int32), half, half], dim=1)


@mutant(hint="torch.long")
def float_tokens(batch, half_len, low, high, bos):
    half = torch.randint(low, high, (batch, half_len)).float()
    return torch.cat([torch.full((batch, 1), float(bos)), half, half], dim=1)


@mutant(hint="not uniform")
def biased_towards_low(batch, half_len, low, high, bos):
    u = torch.rand(batch, half_len) ** 2  # squares crowd near 0: low tokens come up far more often
    half = low + (u * (high - low)).long()
    return torch.cat([torch.full((batch, 1), bos), half, half], dim=1)


@alternative
def with_a_generator_seeded_from_torch(batch, half_len, low, high, bos):
    generator = torch.Generator().manual_seed(int(torch.randint(0, 2**31, ()).item()))
    half = torch.randint(low, high, (batch, half_len), generator=generator)
    return torch.cat([torch.full((batch, 1), bos), half, half], dim=1)


@alternative
def with_multinomial(batch, half_len, low, high, bos):
    weights = torch.ones(high - low)
    half = low + torch.multinomial(weights.expand(batch, -1), half_len, replacement=True)
    return torch.cat([torch.full((batch, 1), bos), half, half], dim=1)
