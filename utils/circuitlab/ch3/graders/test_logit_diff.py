"""Grader for ch3.logit_diff."""
import pytest
import torch

from circuitlab.ch3 import reference as ref
from circuitlab.grading.testing import expect, expect_close, expect_tensor, fail, run_learner, seeded, submitted


def _inputs(batch, seq, vocab, seed):
    with seeded(seed):
        logits = torch.randn(batch, seq, vocab)
        end_pos = torch.randint(seq // 2, seq, (batch,))
        end_pos[0] = seq - 1
        if batch > 2:
            end_pos[1] = seq // 2  # right-padded prompts of different lengths
        io = torch.randint(0, vocab, (batch,))
        s = (io + torch.randint(1, vocab, (batch,))) % vocab
    return logits, end_pos, io, s


def _mistakes(logits, end_pos, io, s, per_prompt):
    rows = torch.arange(logits.shape[0])
    final = logits[rows, end_pos]
    last = logits[:, -1]
    pick = (lambda d: d) if per_prompt else (lambda d: d.mean())
    probs = final.softmax(-1)
    return {
        "You read the logits at position -1, but the prompts are right-padded: each prompt ends at end_pos[i].":
            pick(last[rows, io] - last[rows, s]),
        "You computed S minus IO; the metric is logit(IO) - logit(S).": pick(final[rows, s] - final[rows, io]),
        "The logit diff is averaged over the wrong axis: indexing with io_tokens alone gives a (batch, batch) "
        "table of every prompt's logit for every prompt's IO. Pair them up with torch.arange(batch).":
            (final[:, io] - final[:, s]).mean(0) if per_prompt else (final[:, io] - final[:, s]).mean(),
        "You used probabilities; the metric is a difference of logits (or of log-probabilities, which is the "
        "same number).": pick(probs[rows, io] - probs[rows, s]),
    }


def _label(logits):
    batch, seq, vocab = logits.shape
    return f"logits of shape ({batch}, {seq}, {vocab})"


def _expect_scalar_tensor(out, what):
    if isinstance(out, (float, int)) and not isinstance(out, bool):
        fail(f"{what} is a Python {type(out).__name__}; return a 0-dim tensor (no .item() or float()): the "
             "patching metric built on it must stay differentiable, because attribution patching takes its "
             "gradient.")
    out = expect_tensor(out, shape=(), dtype="float", what=what)
    return out


@pytest.mark.parametrize("batch, seq, vocab, seed", [(5, 7, 11, 0), (3, 9, 20, 1), (1, 6, 9, 3)],
                         ids=["batch 5", "batch 3", "batch 1"])
def test_mean(batch, seq, vocab, seed):
    """mean logit(IO) - logit(S) at each prompt's end position, as a 0-dim tensor"""
    args = _inputs(batch, seq, vocab, seed)
    what = f"your logit difference for {_label(args[0])}"
    out = run_learner(submitted(), *args, what=f"your logit_diff on {_label(args[0])}")
    if not isinstance(out, torch.Tensor):
        _expect_scalar_tensor(out, what)
    expect_close(out, ref.logit_diff(*args), what=what, mistakes=_mistakes(*args, per_prompt=False))
    _expect_scalar_tensor(out, what)


@pytest.mark.parametrize("batch", [6, 1], ids=["batch 6", "batch 1"])
def test_per_prompt(batch):
    """per_prompt=True returns one difference per prompt, shape (batch,)"""
    args = _inputs(batch, 8, 13, 2)
    out = run_learner(submitted(), *args, per_prompt=True, what=f"your logit_diff(..., per_prompt=True) on {_label(args[0])}")
    mistakes = _mistakes(*args, per_prompt=True)
    if batch > 1:
        mistakes["per_prompt=True should return one number per prompt, not their mean."] = ref.logit_diff(*args)
    if isinstance(out, torch.Tensor) and batch == 1 and out.shape == ():
        fail("With one prompt, per_prompt=True returned a 0-dim tensor; it should have shape (1,), one entry per "
             "prompt. A bare .squeeze() removes the batch axis too when the batch has one prompt.")
    expect_close(out, ref.logit_diff(*args, per_prompt=True), what=f"per-prompt logit differences for {_label(args[0])}",
                 mistakes=mistakes)


def test_gradient():
    """the result keeps its gradient with respect to the logits (the metric is differentiated later)"""
    logits, end_pos, io, s = _inputs(4, 6, 10, 4)
    mine = logits.clone().requires_grad_(True)
    with torch.enable_grad():
        out = run_learner(submitted(), mine, end_pos, io, s, what="your logit_diff on logits that require grad")
        out = _expect_scalar_tensor(out, "your logit difference")
        expect(out.requires_grad, "Your logit difference does not depend on the logits in autograd's eyes "
               "(it was detached, or rebuilt from Python numbers): keep it a tensor computed from logits.")
        (grad,) = torch.autograd.grad(out, mine)
        theirs = logits.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(ref.logit_diff(theirs, end_pos, io, s), theirs)
    expect_close(grad, want, what="the gradient of your logit difference with respect to the logits",
                 hint="Only logits[i, end_pos[i], io_tokens[i]] (+1/batch) and logits[i, end_pos[i], s_tokens[i]] "
                      "(-1/batch) should have a gradient.")
