"""Grader for ch1.kv_cache (bonus)."""
import pytest
import torch

from circuitlab.ch1.grading_support import CONFIGS, random_tokens, sampling_model
from circuitlab.ch1.reference import greedy_decode
from circuitlab.grading.lent import positions_seen, unwatch, watch_positions
from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, submitted

# (seed, config, batch, prompt length, n_new): three layer counts, batch 1, a one-token prompt.
CASES = [(121, "small", 2, 3, 5), (122, "wide", 1, 4, 4), (123, "odd", 3, 1, 3)]


@pytest.mark.parametrize("seed, cfg_name, batch, prompt_len, n_new", CASES)
def test_same_tokens_as_greedy(seed, cfg_name, batch, prompt_len, n_new):
    """generates the same tokens (torch.long) as greedy decoding without a cache"""
    model = sampling_model(seed, cfg_name)
    prompt = random_tokens(CONFIGS[cfg_name], batch, prompt_len, seed=seed)
    where = f'config "{cfg_name}" ({CONFIGS[cfg_name].n_layers} layers), a prompt of shape {tuple(prompt.shape)}'
    out = run_learner(submitted(), model, prompt.clone(), n_new)
    expect_tensor(out, shape=(batch, prompt_len + n_new), dtype=torch.long, what=f"generated tokens ({where})")
    expected = greedy_decode(model, prompt, n_new)
    if not torch.equal(out.cpu(), expected):
        if torch.equal(out[:, : prompt_len + 1].cpu(), expected[:, : prompt_len + 1]):
            fail(f"The first new token is right but later ones are not ({where}). Check the position of each new "
                 "token (W_pos[n_past]) and that its query sees every cached key.")
        fail(f"Generated {out.tolist()}, expected {expected.tolist()} ({where}).")


@pytest.mark.parametrize("cfg_name, prompt_len, n_new", [("small", 3, 4), ("odd", 5, 3)])
def test_runs_the_prompt_once(cfg_name, prompt_len, n_new):
    """every block sees the prompt once, then one position per new token"""
    model = sampling_model(124, cfg_name)
    prompt = random_tokens(CONFIGS[cfg_name], 1, prompt_len, seed=124)
    handles = [watch_positions(block.ln1) for block in model.blocks]
    try:
        run_learner(submitted(), model, prompt, n_new)
        seen = [positions_seen(block.ln1) for block in model.blocks]
    finally:
        for block, handle in zip(model.blocks, handles):
            unwatch(block.ln1, handle)
    expect(len(seen[0]) > 0, "Your function never ran model.blocks[0].ln1: use the model's own modules.")
    # The last new token needs no forward pass of its own; running it anyway is allowed.
    allowed = ([prompt_len] + [1] * (n_new - 1), [prompt_len] + [1] * n_new)
    for layer, positions in enumerate(seen):
        if positions in allowed:
            continue
        if sum(positions) > sum(allowed[1]):
            fail(f"Block {layer} processed {sum(positions)} positions in all (calls of {positions}); with a cache it "
                 f"processes the prompt once ({prompt_len} positions) and then one position per new token. You are "
                 "recomputing the prefix: keep the keys and values of past positions and feed only the newest token.")
        fail(f"Block {layer} saw calls of {positions} positions; expected {allowed[0]} (the prompt once, then one "
             "position per new token).")
