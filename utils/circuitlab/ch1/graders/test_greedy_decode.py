"""Grader for ch1.greedy_decode."""
import pytest
import torch

from circuitlab.ch1.grading_support import CONFIGS, random_tokens, sampling_model
from circuitlab.ch1.reference import greedy_decode
from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, submitted


@pytest.mark.parametrize("seed, batch, n_new", [(71, 2, 5), (72, 1, 3)])
def test_matches_reference(seed, batch, n_new):
    """appends n_new tokens, each the argmax of the last position's logits"""
    model = sampling_model(seed)
    prompt = random_tokens(CONFIGS["small"], batch, 3, seed=seed)
    out = run_learner(submitted(), model, prompt, n_new)
    expect_tensor(out, what="generated tokens")
    if out.shape == (batch, n_new):
        fail("You returned only the new tokens; return the prompt followed by the new tokens.")
    expect_tensor(out, shape=(batch, 3 + n_new), what="generated tokens")
    expect(torch.equal(out[:, :3].cpu(), prompt), "The first tokens of the output must be the prompt, unchanged.")
    expected = greedy_decode(model, prompt, n_new)
    if torch.equal(out.cpu(), expected):
        return
    with torch.no_grad():
        first_position = torch.cat([prompt, model(prompt)[:, 0].argmax(-1, keepdim=True)], -1)
        repeat_first = torch.cat([prompt] + [model(prompt)[:, -1].argmax(-1, keepdim=True)] * n_new, -1)
    if torch.equal(out[:, : 4].cpu(), first_position):
        fail("You used the logits of the first position; the next token is predicted at the last position, [:, -1].")
    if torch.equal(out.cpu(), repeat_first):
        fail("Every new token is the same: append each new token to the sequence and run the model on the longer "
             "sequence at the next step.")
    fail(f"Generated {out.tolist()}, expected {expected.tolist()}. Take argmax over the vocabulary (dim=-1) of "
         "model(tokens)[:, -1] at every step.")
