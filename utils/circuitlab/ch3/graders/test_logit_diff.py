"""Grader for ch3.logit_diff."""
import pytest
import torch

from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


def _inputs(batch, seq, vocab, seed):
    with seeded(seed):
        logits = torch.randn(batch, seq, vocab)
        end_pos = torch.randint(seq // 2, seq, (batch,))
        end_pos[0] = seq - 1
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


@pytest.mark.parametrize("batch, seq, vocab, seed", [(5, 7, 11, 0), (3, 9, 20, 1)])
def test_mean(batch, seq, vocab, seed):
    """mean logit(IO) - logit(S) at each prompt's end position"""
    args = _inputs(batch, seq, vocab, seed)
    out = run_learner(submitted(), *args)
    expect_close(out, reference()(*args), what="logit difference", mistakes=_mistakes(*args, per_prompt=False))


def test_per_prompt():
    """per_prompt=True returns one difference per prompt"""
    args = _inputs(6, 8, 13, 2)
    out = run_learner(submitted(), *args, per_prompt=True)
    mistakes = _mistakes(*args, per_prompt=True)
    mistakes["per_prompt=True should return one number per prompt, not their mean."] = reference()(*args)
    expect_close(out, reference()(*args, per_prompt=True), what="per-prompt logit differences", mistakes=mistakes)
