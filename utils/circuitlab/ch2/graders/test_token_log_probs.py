"""Grader for ch2.token_log_probs."""
import pytest
import torch

from circuitlab.ch2.grading_support import expect_matches, on_case
from circuitlab.ch2.models import cached_run, describe_model
from circuitlab.grading.testing import reference, run_learner, seeded, submitted

CASES = [("shipped", "text", 1), ("random", "repeated", 4), ("wide", "repeated", 1), ("synthetic", "", 3)]


def _inputs(name: str, kind: str, batch: int):
    if name == "synthetic":
        with seeded(5):
            return torch.randn(batch, 6, 11) * 3, torch.randint(0, 11, (batch, 6))
    tokens, logits, _ = cached_run(name, kind, batch=batch, half_len=6)
    return logits, tokens


def _case(name, kind, batch, logits) -> str:
    where = "random logits" if name == "synthetic" else f"the logits of {describe_model(name)} on {kind} tokens"
    return f"{where}, shape {tuple(logits.shape)}"


@pytest.mark.parametrize("name, kind, batch", CASES, ids=[f"{c[0]}-batch{c[2]}" for c in CASES])
def test_matches_reference(name, kind, batch):
    """entry j is the log-probability of token j + 1 (three models, batch 1 included, and random logits)"""
    logits, tokens = _inputs(name, kind, batch)
    expected = reference()(logits, tokens)
    with on_case(_case(name, kind, batch, logits)):
        out = run_learner(submitted(), logits, tokens)
        log_probs = logits.log_softmax(-1)
        expect_matches(out, expected, axes=["batch", "position"], atol=1e-4, what="log-probs", mistakes=lambda: {
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
            "These are losses (minus the log-probabilities): return the log-probabilities themselves.":
                -log_probs[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0],
        })
