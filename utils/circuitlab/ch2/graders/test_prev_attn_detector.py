"""Grader for ch2.prev_attn_detector."""
import pytest

from circuitlab.ch2.grading_support import expect_matches, on_case
from circuitlab.grading.testing import reference, run_learner, submitted
from _detector_cases import CASE_IDS, CASES, case_text, diagonal_mean, pattern_for


@pytest.mark.parametrize("name, kind, layer, batch", CASES, ids=CASE_IDS)
def test_matches_reference(name, kind, layer, batch):
    """one score per head: mean attention from each position i >= 1 to position i - 1"""
    pattern = pattern_for(name, kind, layer, batch)
    expected = reference()(pattern)
    with on_case(case_text(name, kind, layer, batch)):
        out = run_learner(submitted(), pattern)
        seq = pattern.shape[-1]
        below = pattern.diagonal(offset=-1, dim1=-2, dim2=-1)
        expect_matches(out, expected, axes=["head"], what="previous-token scores", mistakes=lambda: {
            "Wrong diagonal offset: offset +1 is above the diagonal (keys after the query, always 0 under the "
            "causal mask); the previous token is offset -1.": diagonal_mean(pattern, 1),
            "Wrong diagonal offset: you measured the current token (offset 0); the previous token is offset -1.":
                diagonal_mean(pattern, 0),
            "Wrong diagonal offset: offset -2 looks two tokens back; the previous token is offset -1.":
                diagonal_mean(pattern, -2),
            "You divided by seq, counting query 0, which has no previous token: average over the seq - 1 "
            "entries of the diagonal.": below.sum(-1).mean(0) / seq,
            "You summed along the diagonal instead of averaging.": below.sum(-1).mean(0),
            "You used only the first batch entry (pattern[0]); average over every batch entry.": below[0].mean(-1),
        }, hint="Average the diagonal just below the main one (query i, key i - 1), one number per head.")
