"""Grader for ch1.kv_cache (bonus)."""
import pytest
import torch

from circuitlab.ch1.grading_support import CONFIGS, random_tokens, sampling_model
from circuitlab.ch1.reference import greedy_decode
from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, submitted


@pytest.mark.parametrize("seed, batch, n_new", [(121, 2, 5), (122, 1, 4)])
def test_same_tokens_as_greedy(seed, batch, n_new):
    """generates the same tokens as greedy decoding without a cache"""
    model = sampling_model(seed)
    prompt = random_tokens(CONFIGS["small"], batch, 3, seed=seed)
    out = run_learner(submitted(), model, prompt, n_new)
    expect_tensor(out, shape=(batch, 3 + n_new), what="generated tokens")
    expected = greedy_decode(model, prompt, n_new)
    if not torch.equal(out.cpu(), expected):
        if torch.equal(out[:, :4].cpu(), expected[:, :4]):
            fail("The first new token is right but later ones are not. Check the position of each new token "
                 "(W_pos[n_past]) and that its query sees every cached key.")
        fail(f"Generated {out.tolist()}, expected {expected.tolist()}.")


def test_processes_each_position_once():
    """runs each position through the blocks once (it does not recompute the prefix)"""
    model = sampling_model(123)
    prompt = random_tokens(CONFIGS["small"], 1, 3, seed=123)
    positions_seen = []
    handle = model.blocks[0].ln1.register_forward_hook(lambda m, i, o: positions_seen.append(o.shape[1]))
    try:
        run_learner(submitted(), model, prompt, 4)
    finally:
        handle.remove()
    expect(len(positions_seen) > 0, "Your function never ran model.blocks[0].ln1: use the model's own modules.")
    total = sum(positions_seen)
    expect(total == 3 + 4 - 1 or total == 3 + 4,
           f"The first block processed {total} positions in all; with a cache it processes the prompt once and "
           "then one position per new token (6 or 7 here). You are recomputing the prefix: keep the keys and values "
           "of past positions and feed only the newest token.")
