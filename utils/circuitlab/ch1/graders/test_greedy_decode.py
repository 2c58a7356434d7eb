"""Grader for ch1.greedy_decode."""
import pytest
import torch

from circuitlab.ch1.grading_support import CONFIGS, random_tokens, sampling_model
from circuitlab.ch1.reference import greedy_decode
from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, submitted


@torch.no_grad()
def _decode_reading(model, tokens, n_new, position: int):
    """Greedy decoding that reads the logits at ``position`` (0: the first, a mistake) at every step."""
    for _ in range(n_new):
        tokens = torch.cat([tokens, model(tokens)[:, position].argmax(-1, keepdim=True)], -1)
    return tokens


@torch.no_grad()
def _never_feeds_back(model, tokens, n_new):
    next_token = model(tokens)[:, -1].argmax(-1, keepdim=True)
    return torch.cat([tokens] + [next_token] * n_new, -1)


# (seed, config, batch, prompt length, n_new): batch 1, a one-token prompt (where the first position is the last).
CASES = [(71, "small", 2, 3, 5), (72, "wide", 1, 4, 3), (73, "odd", 3, 1, 4), (74, "odd", 1, 2, 1)]


@pytest.mark.parametrize("seed, cfg_name, batch, prompt_len, n_new", CASES)
def test_matches_reference(seed, cfg_name, batch, prompt_len, n_new):
    """appends n_new tokens (torch.long), each the argmax of the last position's logits"""
    model = sampling_model(seed, cfg_name)
    prompt = random_tokens(CONFIGS[cfg_name], batch, prompt_len, seed=seed)
    where = f'config "{cfg_name}", a prompt of shape {tuple(prompt.shape)}, n_new={n_new}'
    out = run_learner(submitted(), model, prompt.clone(), n_new)
    expect_tensor(out, what=f"generated tokens ({where})")
    if out.shape == (batch, n_new) and prompt_len != n_new:
        fail(f"You returned only the new tokens ({where}); return the prompt followed by the new tokens.")
    expect_tensor(out, shape=(batch, prompt_len + n_new), dtype=torch.long, what=f"generated tokens ({where})")
    out = out.cpu()
    expect(torch.equal(out[:, :prompt_len], prompt),
           f"The first tokens of the output must be the prompt, unchanged ({where}).")
    expected = greedy_decode(model, prompt, n_new)
    if torch.equal(out, expected):
        return
    mistakes = {
        "You used the logits of the first position; the next token is predicted at the last position, [:, -1].":
            _decode_reading(model, prompt, n_new, 0),
        "Every new token is the same: append each new token to the sequence and run the model on the longer "
        "sequence at the next step.": _never_feeds_back(model, prompt, n_new),
    }
    for message, mistaken in mistakes.items():
        if torch.equal(out, mistaken) and not torch.equal(mistaken, expected):
            fail(f"{message} ({where})")
    wrong = (out != expected).any(0).nonzero().flatten().tolist()
    fail(f"Generated {out.tolist()}, expected {expected.tolist()} ({where}); the first difference is at position "
         f"{wrong[0]} (new token {wrong[0] - prompt_len + 1}). Take argmax over the vocabulary (dim=-1) of the logits at "
         "the last position at every step, and feed the longer sequence back in.")
