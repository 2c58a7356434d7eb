"""Grader for ch2.current_attn_detector."""
import pytest

from circuitlab.grading.testing import expect_close, reference, run_learner, submitted
from _detector_cases import CASE_IDS, CASES, diagonal_mean, pattern_for


@pytest.mark.parametrize("name, kind, layer", CASES, ids=CASE_IDS)
def test_matches_reference(name, kind, layer):
    """one score per head: mean attention from each position to itself"""
    pattern = pattern_for(name, kind, layer)
    out = run_learner(submitted(), pattern)
    expect_close(out, reference()(pattern), atol=1e-5, what="current-token scores", mistakes={
        "Wrong diagonal offset: you measured attention to the previous token (offset -1); the current token "
        "is the main diagonal (offset 0).": diagonal_mean(pattern, -1),
        "You averaged over the key axis too (dividing the diagonal's sum by seq * seq): average only over "
        "batch and positions.": pattern.diagonal(dim1=-2, dim2=-1).sum(-1).mean(0) / pattern.shape[-1] ** 2,
        "You summed along the diagonal instead of averaging.": pattern.diagonal(dim1=-2, dim2=-1).sum(-1).mean(0),
    }, hint="Average the main diagonal (query i, key i) over batch and positions, one number per head.")
