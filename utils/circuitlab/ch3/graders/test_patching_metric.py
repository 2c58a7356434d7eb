"""Grader for ch3.patching_metric."""
import pytest
import torch

from circuitlab.ch3.reference import logit_diff
from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


@pytest.mark.parametrize("seed, clean, corrupt", [(0, 3.0, -0.5), (1, 1.7, 0.9)])
def test_matches_reference(seed, clean, corrupt):
    """0 for the corrupted run, 1 for the clean run, linear in between"""
    with seeded(seed):
        logits = torch.randn(4, 6, 10) * 2
        end_pos = torch.tensor([5, 3, 4, 5])
        io, s = torch.tensor([1, 2, 3, 4]), torch.tensor([5, 6, 7, 8])
    out = run_learner(submitted(), logits, end_pos, io, s, clean, corrupt)
    diff = logit_diff(logits, end_pos, io, s)
    expect_close(out, reference()(logits, end_pos, io, s, clean, corrupt), what="normalised logit difference",
                 atol=1e-5, mistakes={
                     "The metric is normalised the wrong way round: it should be 0 for the corrupted run and 1 for "
                     "the clean run, i.e. (diff - corrupt) / (clean - corrupt).": (clean - diff) / (clean - corrupt),
                     "You divided by the clean logit difference only; divide by (clean - corrupt) after "
                     "subtracting corrupt.": diff / clean,
                     "You subtracted the corrupted baseline but did not divide by (clean - corrupt).": diff - corrupt,
                 })


def test_end_points():
    """the clean logits score 1 and the corrupted logits score 0"""
    with seeded(3):
        clean_logits, corrupt_logits = torch.randn(3, 5, 9), torch.randn(3, 5, 9)
    end_pos, io, s = torch.tensor([4, 4, 2]), torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])
    clean, corrupt = logit_diff(clean_logits, end_pos, io, s).item(), logit_diff(corrupt_logits, end_pos, io, s).item()
    one = run_learner(submitted(), clean_logits, end_pos, io, s, clean, corrupt)
    zero = run_learner(submitted(), corrupt_logits, end_pos, io, s, clean, corrupt)
    expect_close(torch.stack([torch.as_tensor(one).float(), torch.as_tensor(zero).float()]), torch.tensor([1.0, 0.0]),
                 what="(metric on clean logits, metric on corrupted logits)", atol=1e-4,
                 mistakes={"The metric is normalised the wrong way round: it should be 0 for the corrupted run "
                           "and 1 for the clean run.": torch.tensor([0.0, 1.0])})
