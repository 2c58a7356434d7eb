"""Grader for ch1.apply_temperature."""
import pytest
import torch

from circuitlab.grading.testing import expect_close, expect_tensor, fail, run_learner, seeded, submitted


@pytest.mark.parametrize("temperature, shape", [(0.5, (3, 10)), (2.0, (3, 10)), (1.0, (3, 10)), (3, (1, 7))])
def test_same_distribution_as_reference(temperature, shape):
    """returns logits whose softmax is softmax(logits / temperature) (an int temperature and batch 1 included)"""
    with seeded(81):
        logits = 3 * torch.randn(*shape)
    out = run_learner(submitted(), logits, temperature)
    expect_tensor(out, shape=shape, what=f"tempered logits (temperature {temperature!r}, logits {shape})", dtype="float")
    probs = logits.softmax(-1)
    if temperature != 1.0 and torch.allclose(out, probs / temperature, atol=1e-6):
        fail("You applied the temperature after the softmax. Dividing probabilities by T only rescales them; "
             "divide the logits by T, before any softmax.")
    if torch.allclose(out.sum(-1), torch.ones(shape[0]), atol=1e-5) and bool((out >= 0).all()):
        fail("You returned probabilities; return logits (logits / temperature). The softmax happens when sampling.")
    expect_close(out.softmax(-1), (logits / temperature).softmax(-1), atol=1e-6, what="softmax of your output",
                 mistakes={"You multiplied by the temperature; divide by it (a high temperature flattens the "
                           "distribution).": (logits * temperature).softmax(-1)})
