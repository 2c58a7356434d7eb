"""Grader for ch4.excluded_loss."""
from circuitlab.ch4.fixtures import mean_cross_entropy, progress_cases, trig_directions
import torch

from circuitlab.grading.testing import expect_close, expect_tensor, fail, reference, run_learner, submitted


def _remove(logits, d):
    logits = logits.double()
    return logits - d.T @ (d @ logits)


def test_matches_reference():
    """the training loss after removing the key cos/sin(w(a+b)) components from the logits"""
    for what, logits, labels, freqs, train in progress_cases():
        p = logits.shape[-1]
        out = run_learner(submitted(), logits, labels, freqs, train, what=f"your excluded_loss on {what}")
        if not isinstance(out, torch.Tensor) and isinstance(out, float):
            fail(f"Your excluded loss of {what} is a Python float; return a 0-dim float64 tensor (no .item()).")
        expect_tensor(out, shape=(), dtype="float", what=f"the excluded loss of {what}")
        d = trig_directions(p, freqs)

        def on_train(x):
            return mean_cross_entropy(x[train], labels[train])

        removed32 = logits.float() - d.float().T @ (d.float() @ logits.float())
        mistakes = {
            "You computed in float32; compute the projection and the cross-entropy in float64 (logits.double()): "
            "a loss near 1e-9 is rounded away in float32.":
                torch.nn.functional.cross_entropy(removed32[train], labels[train]).double(),
            "You evaluated on every pair; the excluded loss is measured on the training pairs only (it asks "
            "whether memorisation alone still fits them).": mean_cross_entropy(_remove(logits, d), labels),
            "You removed the wrong frequencies (off by one): remove cos/sin(2πk(a+b)/p) for k in freqs exactly.":
                on_train(_remove(logits, trig_directions(p, freqs + 1))),
            "You removed only the cos(w(a+b)) directions; remove sin(w(a+b)) too.":
                on_train(_remove(logits, trig_directions(p, freqs, which=("cos",)))),
            "Your directions are not unit vectors: normalise each over the p² pairs before projecting.":
                on_train(_remove(logits, trig_directions(p, freqs, normalise=False))),
            "You used cos/sin(w·a); the key directions are waves in a + b.":
                on_train(_remove(logits, trig_directions(p, freqs, of="a"))),
        }
        expect_close(out, reference()(logits, labels, freqs, train), atol=1e-13, rtol=1e-6,
                     what=f"the excluded loss of {what}", mistakes=mistakes,
                     hint="Subtract the projection of the logits onto the unit directions cos/sin(2πk(a+b)/p), "
                          "then take the cross-entropy on the training pairs.")
