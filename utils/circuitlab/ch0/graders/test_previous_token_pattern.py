"""Grader for ch0.previous_token_pattern."""
import pytest
import torch

from circuitlab.grading.testing import expect, expect_close, expect_no_mistake, expect_tensor, reference, run_learner, submitted


def _next_token_pattern(seq_len: int) -> torch.Tensor:
    positions = torch.arange(seq_len)
    pattern = torch.zeros(seq_len, seq_len)
    pattern[positions, (positions + 1).clamp(max=seq_len - 1)] = 1.0
    return pattern


@pytest.mark.parametrize("seq_len", [1, 4, 9])
def test_matches_reference(seq_len):
    """each row puts all its attention on the previous position (position 0 on itself)"""
    out = run_learner(submitted(), seq_len)
    expected = reference()(seq_len)
    expect_tensor(out, shape=(seq_len, seq_len), dtype="float", what="pattern")
    mistakes = {
        "Query i attends to key i + 1, a future position. A previous-token head looks back: [i, i - 1].":
            _next_token_pattern(seq_len),
        "That is a current-token pattern (the diagonal); shift it one position back.": torch.eye(seq_len),
        "The pattern is transposed: rows are queries, so row i has its 1 in column i - 1.":
            expected.T,
    }
    expect_no_mistake(out, mistakes, expected)
    expect(torch.allclose(out.sum(-1), torch.ones(seq_len)),
           "Every row of an attention pattern sums to 1; check row 0 (the first position attends to itself).")
    expect_close(out, expected, what="pattern")
