"""Grader for ch2.token_log_probs."""
import pytest
import torch

from circuitlab.ch2.models import cached_run
from circuitlab.grading.testing import expect_close, reference, run_learner, seeded, submitted


def _inputs(name: str):
    if name == "synthetic":
        with seeded(5):
            return torch.randn(3, 6, 11) * 3, torch.randint(0, 11, (3, 6))
    tokens, logits, _ = cached_run(name, "repeated")
    return logits, tokens


@pytest.mark.parametrize("name", ["shipped", "random", "synthetic"])
def test_matches_reference(name):
    """entry j is the log-probability of token j + 1 (shipped model, random model, random logits)"""
    logits, tokens = _inputs(name)
    out = run_learner(submitted(), logits, tokens)
    log_probs = logits.log_softmax(-1)
    expect_close(out, reference()(logits, tokens), atol=1e-4, what="log-probs", mistakes={
        "Off by one: you scored the token at the same position; the logits at position j predict token "
        "j + 1 (use logits[:, :-1] with tokens[:, 1:]).": log_probs[:, :-1].gather(-1, tokens[:, :-1, None])[..., 0],
        "Off by one: you paired logits[:, 1:] with tokens[:, 1:]; the logits at position j predict token "
        "j + 1 (use logits[:, :-1]).": log_probs[:, 1:].gather(-1, tokens[:, 1:, None])[..., 0],
        "These are probabilities, not log-probabilities: use log_softmax.":
            logits.softmax(-1)[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0],
        "These are raw logits: normalise them with log_softmax over the vocabulary first.":
            logits[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0],
        "The log_softmax runs over the wrong axis: normalise over the vocabulary (the last axis).":
            logits.log_softmax(1)[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0],
    })
