"""Grader for ch3.patching_metric."""
import pytest
import torch

from circuitlab.ch3.reference import logit_diff, normalised_logit_diff
from circuitlab.grading.testing import expect, expect_close, expect_tensor, fail, run_learner, seeded, submitted


def _scalar_tensor(out, what):
    if isinstance(out, (float, int)) and not isinstance(out, bool):
        fail(f"{what} is a Python {type(out).__name__}; return a 0-dim tensor (no .item() or float()). Attribution "
             "patching calls this metric under torch.enable_grad() and differentiates it.")
    return expect_tensor(out, shape=(), dtype="float", what=what)


def _inputs(seed, batch=4):
    with seeded(seed):
        logits = torch.randn(batch, 6, 10) * 2
        end_pos = torch.tensor([5, 3, 4, 5][:batch])
        io, s = torch.tensor([1, 2, 3, 4][:batch]), torch.tensor([5, 6, 7, 8][:batch])
    return logits, end_pos, io, s


@pytest.mark.parametrize("seed, clean, corrupt, batch", [(0, 3.0, -0.5, 4), (1, 1.7, 0.9, 3), (2, -0.4, 2.5, 1)],
                         ids=["clean 3.0, corrupt -0.5", "clean 1.7, corrupt 0.9", "clean below corrupt, batch 1"])
def test_matches_reference(seed, clean, corrupt, batch):
    """0 for the corrupted run, 1 for the clean run, linear in between, as a 0-dim tensor"""
    logits, end_pos, io, s = _inputs(seed, batch)
    what = f"your normalised logit difference (clean_diff={clean}, corrupt_diff={corrupt}, batch {batch})"
    out = run_learner(submitted(), logits, end_pos, io, s, clean, corrupt, what=f"your normalised_logit_diff "
                      f"with clean_diff={clean}, corrupt_diff={corrupt}")
    out = _scalar_tensor(out, what) if not isinstance(out, torch.Tensor) else out
    diff = logit_diff(logits, end_pos, io, s)
    at_minus_one = logit_diff(logits, torch.full_like(end_pos, logits.shape[1] - 1), io, s)
    expect_close(out, normalised_logit_diff(logits, end_pos, io, s, clean, corrupt), what=what, atol=1e-5, mistakes={
        "The metric is normalised the wrong way round: it should be 0 for the corrupted run and 1 for "
        "the clean run, i.e. (diff - corrupt) / (clean - corrupt).": (clean - diff) / (clean - corrupt),
        "You divided by the clean logit difference only; divide by (clean - corrupt) after "
        "subtracting corrupt.": diff / clean,
        "You subtracted the corrupted baseline but did not divide by (clean - corrupt).": diff - corrupt,
        "You read the logits at position -1; the prompts are right-padded, so use each prompt's end_pos "
        "(logit_diff does).": (at_minus_one - corrupt) / (clean - corrupt),
        "You divided by the absolute value of (clean - corrupt); the scale is signed, so that the clean run "
        "scores 1 even when its logit difference is the smaller one.": (diff - corrupt) / abs(clean - corrupt),
    })
    _scalar_tensor(out, what)


def test_end_points():
    """the clean logits score 1 and the corrupted logits score 0"""
    with seeded(3):
        clean_logits, corrupt_logits = torch.randn(3, 5, 9), torch.randn(3, 5, 9)
    end_pos, io, s = torch.tensor([4, 4, 2]), torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])
    clean, corrupt = logit_diff(clean_logits, end_pos, io, s).item(), logit_diff(corrupt_logits, end_pos, io, s).item()
    one = _scalar_tensor(run_learner(submitted(), clean_logits, end_pos, io, s, clean, corrupt), "your metric")
    zero = _scalar_tensor(run_learner(submitted(), corrupt_logits, end_pos, io, s, clean, corrupt), "your metric")
    expect_close(torch.stack([one.detach().float(), zero.detach().float()]), torch.tensor([1.0, 0.0]),
                 what="(metric on clean logits, metric on corrupted logits)", atol=1e-4,
                 mistakes={"The metric is normalised the wrong way round: it should be 0 for the corrupted run "
                           "and 1 for the clean run.": torch.tensor([0.0, 1.0])})


def test_gradient():
    """the metric keeps its gradient with respect to the logits (attribution patching differentiates it)"""
    logits, end_pos, io, s = _inputs(5)
    clean, corrupt = 2.5, 0.5
    mine = logits.clone().requires_grad_(True)
    with torch.enable_grad():
        out = _scalar_tensor(run_learner(submitted(), mine, end_pos, io, s, clean, corrupt,
                                         what="your normalised_logit_diff on logits that require grad"), "your metric")
        expect(out.requires_grad, "Your metric is detached from the logits (no gradient flows back): attribution "
               "patching calls it under torch.enable_grad() and needs d metric / d logits. Keep every step a "
               "tensor operation on logits (no .item(), .detach(), numpy or float()).")
        (grad,) = torch.autograd.grad(out, mine)
        theirs = logits.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(normalised_logit_diff(theirs, end_pos, io, s, clean, corrupt), theirs)
    expect_close(grad, want, what="the gradient of your metric with respect to the logits",
                 hint="The gradient is that of the logit difference divided by (clean_diff - corrupt_diff).")
