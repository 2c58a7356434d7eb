"""Grader for ch1.beam_search."""
import pytest
import torch

from circuitlab.ch1.grading_support import CONFIGS, random_tokens, sampling_model
from circuitlab.ch1.reference import beam_search, greedy_decode
from circuitlab.grading.testing import expect, expect_python_float, expect_tensor, fail, run_learner, submitted


@torch.no_grad()
def _sequence_log_prob(model, sequence, n_prompt):
    log_probs = model(sequence[None])[0].log_softmax(-1)
    new_positions = torch.arange(n_prompt, sequence.shape[0])
    return log_probs[new_positions - 1, sequence[new_positions]].sum().item()


# Seeds where beam search beats greedy decoding, so a greedy answer cannot pass.
@pytest.mark.parametrize("seed, n_new, beam_width", [(114, 4, 3), (115, 5, 4)])
def test_matches_reference(seed, n_new, beam_width):
    """returns the reference beam's sequence and its summed log-probability"""
    model = sampling_model(seed)
    prompt = random_tokens(CONFIGS["small"], 1, 3, seed=seed)[0]
    result = run_learner(submitted(), model, prompt, n_new, beam_width)
    if not (isinstance(result, tuple) and len(result) == 2):
        fail("beam_search should return a tuple (best_sequence, its_log_prob).")
    sequence, score = result
    expect_tensor(sequence, shape=(3 + n_new,), dtype=torch.long, what="best sequence")
    score = expect_python_float(score, "the score beam_search returned")
    expect(torch.equal(sequence[:3].cpu(), prompt), "The best sequence must start with the prompt.")
    expected_sequence, expected_score = beam_search(model, prompt, n_new, beam_width)
    if torch.equal(sequence.cpu(), expected_sequence):
        expect(abs(float(score) - expected_score) < 1e-4,
               f"The sequence is right but its score is {float(score):.4f}, expected {expected_score:.4f}: the sum of "
               "the log-probabilities of the new tokens.")
        return
    actual = _sequence_log_prob(model, sequence.cpu(), 3)
    greedy = greedy_decode(model, prompt[None], n_new)[0]
    if torch.equal(sequence.cpu(), greedy):
        fail("You returned the greedy sequence. Keep beam_width candidates at every step and rank them by their "
             "summed log-probability.")
    if actual < expected_score - 1e-4:
        fail(f"Your sequence has total log-probability {actual:.3f}; the reference beam finds {expected_score:.3f}. "
             "Rank candidates by the sum of log-probabilities so far (not the last step's alone), and return the "
             "best beam, not the last.")
    fail("Your beam differs from the reference beam search. Extend every beam by every token, then keep the top "
         "beam_width by summed log-probability.")
