"""Grader for ch2.first_attn_detector."""
import pytest

from circuitlab.ch2.grading_support import expect_matches, on_case
from circuitlab.grading.testing import reference, run_learner, submitted
from _detector_cases import CASE_IDS, CASES, case_text, pattern_for


@pytest.mark.parametrize("name, kind, layer, batch", CASES, ids=CASE_IDS)
def test_matches_reference(name, kind, layer, batch):
    """one score per head: mean attention from every query position (0 included) to position 0"""
    pattern = pattern_for(name, kind, layer, batch)
    expected = reference()(pattern)
    with on_case(case_text(name, kind, layer, batch)):
        out = run_learner(submitted(), pattern)
        expect_matches(out, expected, axes=["head"], what="first-token scores", mistakes=lambda: {
            "You read row 0 (where query 0 looks) instead of column 0 (how much every query looks at key 0): "
            "the key axis is the last one.": pattern[:, :, 0, :].mean(dim=(0, -1)),
            "You read the last key column; the first token is key 0.": pattern[..., -1].mean(dim=(0, -1)),
            "You left out query 0; the spec averages over every query position, including 0.":
                pattern[:, :, 1:, 0].mean(dim=(0, -1)),
            "You summed over query positions instead of averaging.": pattern[..., 0].sum(-1).mean(0),
            "You used only the first batch entry (pattern[0]); average over every batch entry.":
                pattern[0, :, :, 0].mean(-1),
        }, hint="Average pattern[..., 0] over batch and query positions, one number per head.")
