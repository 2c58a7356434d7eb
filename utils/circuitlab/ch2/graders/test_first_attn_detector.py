"""Grader for ch2.first_attn_detector."""
import pytest

from circuitlab.grading.testing import expect_close, reference, run_learner, submitted
from _detector_cases import CASE_IDS, CASES, pattern_for


@pytest.mark.parametrize("name, kind, layer", CASES, ids=CASE_IDS)
def test_matches_reference(name, kind, layer):
    """one score per head: mean attention from each position to position 0"""
    pattern = pattern_for(name, kind, layer)
    out = run_learner(submitted(), pattern)
    expect_close(out, reference()(pattern), atol=1e-5, what="first-token scores", mistakes={
        "You read row 0 (where query 0 looks) instead of column 0 (how much every query looks at key 0): "
        "the key axis is the last one.": pattern[:, :, 0, :].mean(dim=(0, -1)),
        "You read the last key column; the first token is key 0.": pattern[..., -1].mean(dim=(0, -1)),
        "You left out query 0; the spec averages over every query position, including 0.":
            pattern[:, :, 1:, 0].mean(dim=(0, -1)),
        "You summed over query positions instead of averaging.": pattern[..., 0].sum(-1).mean(0),
    }, hint="Average pattern[..., 0] over batch and query positions, one number per head.")
