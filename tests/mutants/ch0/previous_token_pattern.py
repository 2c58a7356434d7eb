"""Mutants and alternatives for ch0.previous_token_pattern."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="future position")
def next_token(seq_len):
    positions = torch.arange(seq_len)
    pattern = torch.zeros(seq_len, seq_len)
    pattern[positions, (positions + 1).clamp(max=seq_len - 1)] = 1.0
    return pattern


@mutant(hint="current-token pattern")
def identity(seq_len):
    return torch.eye(seq_len)


@mutant(hint="sums to 1")
def first_row_empty(seq_len):
    return torch.diag(torch.ones(seq_len - 1), -1)


@mutant(hint="transposed")
def transposed(seq_len):
    pattern = torch.zeros(seq_len, seq_len)
    positions = torch.arange(seq_len)
    pattern[(positions - 1).clamp(min=0), positions] = 1.0
    return pattern


@alternative
def with_diagonal(seq_len):
    pattern = torch.diag(torch.ones(seq_len - 1), -1)
    pattern[0, 0] = 1.0
    return pattern


@alternative
def with_loop(seq_len):
    pattern = torch.zeros(seq_len, seq_len)
    for i in range(seq_len):
        pattern[i, max(i - 1, 0)] = 1
    return pattern
