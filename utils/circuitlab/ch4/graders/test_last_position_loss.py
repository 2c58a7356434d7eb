"""Grader for ch4.last_position_loss."""
import torch

from circuitlab.grading.testing import expect, expect_close, expect_tensor, reference, run_learner, seeded, submitted


def _case(batch, seq, vocab, seed):
    with seeded(seed):
        logits = torch.randn(batch, seq, vocab) * 3
        labels = torch.randint(0, vocab, (batch,))
    return logits, labels


def _ce(logits, labels):
    return -logits.double().log_softmax(-1).gather(-1, labels[:, None]).mean()


def test_matches_reference():
    """the mean cross-entropy of the last position's prediction"""
    for batch, seq, vocab, seed in [(6, 3, 7, 0), (9, 4, 11, 1), (1, 3, 5, 3)]:
        logits, labels = _case(batch, seq, vocab, seed)
        shape = f"logits ({batch}, {seq}, {vocab})"
        out = run_learner(submitted(), logits, labels, what=f"your last_position_loss on {shape}")
        expect_tensor(out, shape=(), what=f"the loss on {shape}")
        expected = reference()(logits, labels)
        all_positions = _ce(logits.reshape(-1, vocab), labels.repeat_interleave(seq))
        mistakes = {
            "You averaged the loss over all positions; only the last position predicts the answer "
            "(the model cannot know a + b before it has seen b). Use logits[:, -1].": all_positions,
            "You used the first position's logits; the answer is predicted at the last position (logits[:, -1]).":
                _ce(logits[:, 0], labels),
            "You summed the loss over the batch; take the mean.": _ce(logits[:, -1], labels) * batch,
        }
        expect_close(out, expected, what=f"the loss on {shape}", mistakes=mistakes, atol=0.0, rtol=1e-6,
                     hint="Take log_softmax of logits[:, -1] and average -log p(label).")


def test_float64():
    """computed in float64, so that tiny losses late in training are not rounded to zero"""
    logits, labels = _case(5, 3, 13, 2)
    logits[:, -1] *= 0.1
    # Confident and correct: the loss is about 1e-10, which float64 resolves and float32 rounds to 0.
    logits[torch.arange(5), -1, labels] += 25.0
    out = run_learner(submitted(), logits, labels)
    expect_tensor(out, shape=(), what="the loss")
    expect(out.dtype == torch.float64, f"Return the loss in float64 (yours is {out.dtype}): convert the logits "
           "with .to(torch.float64) before log_softmax. In float32 a loss near 1e-16 rounds to 0 and its gradient "
           "vanishes, which distorts the late phase of training.")
    expected = reference()(logits, labels)
    expect_close(out, expected, atol=0.0, rtol=1e-3, what="the loss on near-perfect predictions",
                 hint="Convert to float64 before log_softmax, not after (float32 already rounded the loss to 0).")
