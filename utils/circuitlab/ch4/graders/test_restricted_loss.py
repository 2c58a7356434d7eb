"""Grader for ch4.restricted_loss."""
from circuitlab.ch4.fixtures import mean_cross_entropy, progress_cases, trig_directions
from circuitlab.grading.testing import expect_close, expect_tensor, reference, run_learner, submitted


def _keep(logits, d, mean=True):
    logits = logits.double()
    kept = d.T @ (d @ logits)
    return kept + logits.mean(0, keepdim=True) if mean else kept


def test_matches_reference():
    """the loss on every pair after keeping only the mean and the key cos/sin(w(a+b)) components"""
    for what, logits, labels, freqs, _ in progress_cases():
        p = logits.shape[-1]
        out = run_learner(submitted(), logits, labels, freqs)
        expect_tensor(out, shape=(), dtype="float", what=f"the restricted loss of {what}")
        d = trig_directions(p, freqs)
        mistakes = {
            "You dropped each output's mean over the pairs; keep it (logits.mean(0)) together with the key "
            "frequency components.": mean_cross_entropy(_keep(logits, d, mean=False), labels),
            "You kept only the cos(w(a+b)) directions; keep sin(w(a+b)) too.":
                mean_cross_entropy(_keep(logits, trig_directions(p, freqs, which=("cos",))), labels),
            "Your directions are not unit vectors: normalise each over the p² pairs before projecting.":
                mean_cross_entropy(_keep(logits, trig_directions(p, freqs, normalise=False)), labels),
            "You used cos/sin(w·a); the key directions are waves in a + b.":
                mean_cross_entropy(_keep(logits, trig_directions(p, freqs, of="a")), labels),
        }
        expect_close(out, reference()(logits, labels, freqs), atol=1e-5, rtol=1e-4,
                     what=f"the restricted loss of {what}", mistakes=mistakes,
                     hint="Project the logits (pairs, p) onto the unit directions cos/sin(2πk(a+b)/p), add back "
                          "the mean over pairs, and take the cross-entropy over all pairs.")
