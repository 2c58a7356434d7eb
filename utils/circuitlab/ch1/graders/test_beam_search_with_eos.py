"""Grader for ch1.beam_search_with_eos.

The models are the chapter's random sampling models with the EOS token's unembedding bias raised, so
that EOS is likely enough to matter. Each case was chosen for what it tests (tests/test_references.py
holds these properties): in the "EOS wins" cases the best beam finishes early and beats every beam
that keeps going; in the "EOS loses" cases a beam finishes but a longer one ends up better.
"""
from __future__ import annotations

from functools import lru_cache

import pytest
import torch

from circuitlab.ch1.grading_support import CONFIGS, random_tokens, sampling_model
from circuitlab.ch1.reference import beam_search, beam_search_with_eos
from circuitlab.grading.testing import expect, expect_python_float, expect_tensor, fail, run_learner, submitted

PROMPT_LEN = 3

# (name, config, seed, EOS bias boost, n_new, beam_width)
CASES = [
    ("EOS wins at the third new token", "small", 126, 2.0, 5, 3),
    ("EOS wins at the first new token", "small", 125, 3.0, 5, 3),
    ("EOS wins at the third new token", "odd", 123, 3.0, 5, 3),
    ("EOS loses to a longer beam", "wide", 122, 1.0, 5, 3),
    ("EOS loses to a longer beam", "wide", 120, 2.0, 5, 3),
    ("beam width 1", "small", 126, 2.0, 5, 1),
]


@lru_cache(maxsize=8)
def eos_model(cfg_name: str, seed: int, boost: float) -> torch.nn.Module:
    """The chapter's sampling model with the last token as EOS, its logit raised by ``boost``."""
    model = sampling_model(seed, cfg_name)
    with torch.no_grad():
        model.unembed.b_U[-1] += boost
    return model


def eos_case(cfg_name: str, seed: int, boost: float) -> tuple[torch.nn.Module, torch.Tensor, int]:
    model = eos_model(cfg_name, seed, boost)
    prompt = random_tokens(CONFIGS[cfg_name], 1, PROMPT_LEN, seed=seed)[0]
    return model, prompt, CONFIGS[cfg_name].d_vocab - 1


@torch.no_grad()
def sequence_log_prob(model, sequence: torch.Tensor, n_prompt: int) -> float:
    log_probs = model(sequence[None])[0].log_softmax(-1)
    positions = torch.arange(n_prompt, sequence.shape[0])
    return log_probs[positions - 1, sequence[positions]].sum().item()


@torch.no_grad()
def _beams_with(model, prompt, n_new, beam_width, eos, *, first_finished=False, drop_finished=False):
    """The reference rule with one change: return the first beam to finish, or discard finished beams."""
    n_prompt, beams = prompt.shape[0], [(0.0, prompt)]
    for _ in range(n_new):
        done = [b for b in beams if b[1].shape[0] > n_prompt and int(b[1][-1]) == eos]
        if first_finished and done:
            return done[0]
        growing = [b for b in beams if b not in done]
        log_probs = model(torch.stack([s for _, s in growing]))[:, -1].log_softmax(-1)
        if drop_finished:
            log_probs[:, eos] = float("-inf")
        scores = torch.tensor([s for s, _ in growing])
        top, flat = (scores[:, None] + log_probs).flatten().topk(beam_width)
        vocab = log_probs.shape[-1]
        beams = sorted(done + [(v, torch.cat([growing[i // vocab][1], torch.tensor([i % vocab])]))
                               for v, i in zip(top.tolist(), flat.tolist())], key=lambda b: b[0], reverse=True)[:beam_width]
    return beams[0]


def _cut_at_eos(sequence: torch.Tensor, eos: int) -> torch.Tensor:
    new = sequence[PROMPT_LEN:].tolist()
    return sequence[: PROMPT_LEN + new.index(eos) + 1] if eos in new else sequence


@pytest.mark.parametrize("name, cfg_name, seed, boost, n_new, beam_width", CASES)
def test_matches_reference(name, cfg_name, seed, boost, n_new, beam_width):
    """returns the best beam of the pool, finished beams competing with their final score (no length penalty)"""
    model, prompt, eos = eos_case(cfg_name, seed, boost)
    where = (f'{name}: config "{cfg_name}", model seed {seed}, EOS token {eos}, prompt {prompt.tolist()}, '
             f"n_new={n_new}, beam_width={beam_width}")
    result = run_learner(submitted(), model, prompt.clone(), n_new, beam_width, eos,
                         what=f"your beam_search_with_eos ({where})")
    if not (isinstance(result, tuple) and len(result) == 2):
        fail(f"beam_search_with_eos should return a tuple (best_sequence, score) ({where}).")
    sequence, score = result
    expect_tensor(sequence, dtype=torch.long, what=f"the best sequence ({where})")
    expect(sequence.ndim == 1, f"The best sequence should be 1-D, (prompt + new tokens,); it has shape "
                               f"{tuple(sequence.shape)} ({where}).")
    score = expect_python_float(score, f"the score ({where})")
    sequence = sequence.cpu()
    expect(PROMPT_LEN < sequence.shape[0] <= PROMPT_LEN + n_new and torch.equal(sequence[:PROMPT_LEN], prompt),
           f"The best sequence must be the prompt followed by 1 to n_new new tokens; got {sequence.tolist()} ({where}).")
    new = sequence[PROMPT_LEN:].tolist()
    if eos in new[:-1]:
        fail(f"Your sequence {sequence.tolist()} goes on past the end-of-sequence token {eos} ({where}): a beam that "
             "emits EOS is finished; it stops growing (no padding after it) and keeps its score.")
    expected_sequence, expected_score = beam_search_with_eos(model, prompt, n_new, beam_width, eos)
    actual = sequence_log_prob(model, sequence, PROMPT_LEN)
    if torch.equal(sequence, expected_sequence):
        if abs(score - expected_score) < 1e-4:
            return
        n_tokens = sequence.shape[0] - PROMPT_LEN
        if new[-1] == eos and abs(score - (expected_score - sequence_log_prob(model, sequence, sequence.shape[0] - 1))) < 1e-4:
            fail(f"The sequence is right but the score leaves out the EOS token's log-probability ({where}): a "
                 "finished beam's score includes the log-probability of the EOS it emitted.")
        if abs(score - expected_score / n_tokens) < 1e-4:
            fail(f"Your score {score:.4f} is the mean log-probability per token ({where}); there is no length penalty "
                 f"here: the score is the plain sum, {expected_score:.4f}.")
        fail(f"The sequence is right but its score is {score:.4f}, expected {expected_score:.4f} ({where}): the sum "
             "of the new tokens' log-probabilities, EOS included, and nothing added after EOS.")
    if abs(score - actual / len(new)) < 1e-4:
        fail(f"Your score {score:.4f} is the mean log-probability per token ({where}); there is no length penalty "
             "here: rank and return beams by the plain sum of log-probabilities.")
    never_stops = beam_search(model, prompt, n_new, beam_width)[0]
    mistakes = {
        "Your beam search never finishes a beam: when a beam emits EOS it stops growing and stays in the pool with "
        "its score, competing with the beams that keep going.": never_stops,
        "A finished beam must stop growing: your beams went on past EOS (scoring the tokens after it) and were cut "
        "at their EOS only at the end, so nothing added after EOS may count.": _cut_at_eos(never_stops, eos),
        "You returned the first beam to finish. A finished beam only enters the competition: keep searching until "
        "n_new steps (or every kept beam has finished) and return the best beam of the pool.":
            _beams_with(model, prompt, n_new, beam_width, eos, first_finished=True)[1],
        "A finished beam must stay in the pool: you dropped the beams that emitted EOS, so a finished beam that "
        "beats every longer one is lost.": _beams_with(model, prompt, n_new, beam_width, eos, drop_finished=True)[1],
    }
    for message, mistaken in mistakes.items():
        if torch.equal(sequence, mistaken) and not torch.equal(mistaken, expected_sequence):
            fail(f"{message} ({where}; you returned {sequence.tolist()}, expected {expected_sequence.tolist()})")
    if new[-1] != eos and len(new) < n_new:
        fail(f"Your sequence {sequence.tolist()} stops after {len(new)} new tokens without EOS ({where}): only a beam "
             "that emits EOS stops before n_new tokens.")
    fail(f"You returned {sequence.tolist()} (log-probability {actual:.3f}); the reference finds "
         f"{expected_sequence.tolist()} ({expected_score:.3f}) ({where}). Each step, the pool is the finished beams, "
         "unchanged, plus every extension of every growing beam; keep the beam_width best by summed log-probability.")
