"""Grader for ch2.current_attn_detector."""
import pytest

from circuitlab.ch2.grading_support import expect_matches, on_case
from circuitlab.grading.testing import reference, run_learner, submitted
from _detector_cases import CASE_IDS, CASES, case_text, diagonal_mean, pattern_for


@pytest.mark.parametrize("name, kind, layer, batch", CASES, ids=CASE_IDS)
def test_matches_reference(name, kind, layer, batch):
    """one score per head: mean attention from each position (0 included) to itself"""
    pattern = pattern_for(name, kind, layer, batch)
    expected = reference()(pattern)
    with on_case(case_text(name, kind, layer, batch)):
        out = run_learner(submitted(), pattern)
        diagonal = pattern.diagonal(dim1=-2, dim2=-1)
        expect_matches(out, expected, axes=["head"], what="current-token scores", mistakes=lambda: {
            "Wrong diagonal offset: you measured attention to the previous token (offset -1); the current token "
            "is the main diagonal (offset 0).": diagonal_mean(pattern, -1),
            "You averaged over the key axis too (dividing the diagonal's sum by seq * seq): average only over "
            "batch and positions.": diagonal.sum(-1).mean(0) / pattern.shape[-1] ** 2,
            "You summed along the diagonal instead of averaging.": diagonal.sum(-1).mean(0),
            "You left out position 0; the spec averages over every position, including 0 (which can only "
            "attend to itself, so its entry is always 1).": diagonal[..., 1:].mean(dim=(0, -1)),
            "You used only the first batch entry (pattern[0]); average over every batch entry.":
                diagonal[0].mean(-1),
        }, hint="Average the main diagonal (query i, key i) over batch and positions, one number per head.")
