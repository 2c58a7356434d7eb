"""Grader for ch4.restricted_loss."""
from circuitlab.ch4.fixtures import mean_cross_entropy, progress_cases, trig_directions
import torch

from circuitlab.grading.testing import expect_close, expect_tensor, fail, reference, run_learner, submitted


def _keep(logits, d, mean=True):
    logits = logits.double()
    kept = d.T @ (d @ logits)
    return kept + logits.mean(0, keepdim=True) if mean else kept


def test_matches_reference():
    """the loss on every pair after keeping only the mean and the key cos/sin(w(a+b)) components"""
    for what, logits, labels, freqs, _ in progress_cases():
        p = logits.shape[-1]
        out = run_learner(submitted(), logits, labels, freqs, what=f"your restricted_loss on {what}")
        if not isinstance(out, torch.Tensor) and isinstance(out, float):
            fail(f"Your restricted loss of {what} is a Python float; return a 0-dim float64 tensor (no .item()).")
        expect_tensor(out, shape=(), dtype="float", what=f"the restricted loss of {what}")
        d = trig_directions(p, freqs)
        kept32 = (logits.float().mean(0, keepdim=True) + d.float().T @ (d.float() @ logits.float()))
        mistakes = {
            "You computed in float32; compute the projection and the cross-entropy in float64 (logits.double()): "
            "a loss near 1e-9 is rounded away in float32.":
                torch.nn.functional.cross_entropy(kept32, labels).double(),
            "You dropped each output's mean over the pairs; keep it (logits.mean(0)) together with the key "
            "frequency components.": mean_cross_entropy(_keep(logits, d, mean=False), labels),
            "You kept only the cos(w(a+b)) directions; keep sin(w(a+b)) too.":
                mean_cross_entropy(_keep(logits, trig_directions(p, freqs, which=("cos",))), labels),
            "Your directions are not unit vectors: normalise each over the p² pairs before projecting.":
                mean_cross_entropy(_keep(logits, trig_directions(p, freqs, normalise=False)), labels),
            "You used cos/sin(w·a); the key directions are waves in a + b.":
                mean_cross_entropy(_keep(logits, trig_directions(p, freqs, of="a")), labels),
        }
        expect_close(out, reference()(logits, labels, freqs), atol=1e-13, rtol=1e-6,
                     what=f"the restricted loss of {what}", mistakes=mistakes,
                     hint="Project the logits (pairs, p) onto the unit directions cos/sin(2πk(a+b)/p), add back "
                          "the mean over pairs, and take the cross-entropy over all pairs.")
