"""Grader for ch1.sample_categorical.

Draws are random, so no test compares them with the reference's draws (a Gumbel-max or inverse-CDF
sampler is as right as torch.multinomial and draws other tokens). Frequencies are compared with the
probabilities within BOUND_SIGMAS standard errors plus a small slack: for a correct sampler a miss has
probability below 1e-8 per token, and the seeds are fixed, so a correct answer never misses.
"""
from __future__ import annotations

import math

import pytest
import torch

from circuitlab.grading.testing import expect, expect_tensor, fail, run_learner, seeded, submitted

BOUND_SIGMAS = 6.0
N_DRAWS = 2000  # rows per distribution in one call


def _draw(logits: torch.Tensor, seed: int, *, where: str, global_seed: int = 12345) -> torch.Tensor:
    """The learner's draws for ``logits`` with a generator seeded ``seed``, checked for type, dtype and shape."""
    generator = torch.Generator().manual_seed(seed)
    with seeded(global_seed):
        draws = run_learner(submitted(), logits.clone(), generator, what=f"your sample_categorical ({where})")
    expect_tensor(draws, what=f"the sampled tokens ({where})")
    if draws.is_floating_point():
        fail(f"The sampled tokens ({where}) have dtype {draws.dtype}: token ids are integers, return torch.long.")
    expect_tensor(draws, dtype=torch.long, what=f"the sampled tokens ({where})")
    if draws.shape == (logits.shape[0], 1):
        fail(f"The sampled tokens ({where}) have shape {tuple(draws.shape)}; return one token per row, shape "
             f"({logits.shape[0]},): take [:, 0] of multinomial's (batch, 1) output.")
    expect_tensor(draws, shape=(logits.shape[0],), what=f"the sampled tokens ({where})")
    draws = draws.cpu()
    expect(bool(((draws >= 0) & (draws < logits.shape[-1])).all()),
           f"Some sampled tokens ({where}) are not valid ids 0..{logits.shape[-1] - 1}.")
    return draws


def _fits(frequencies: torch.Tensor, probs: torch.Tensor, n: int) -> bool:
    bound = BOUND_SIGMAS * (probs * (1 - probs) / n).sqrt() + 2.0 / n
    return bool(((frequencies - probs).abs() <= bound).all())


def _frequencies(draws: torch.Tensor, n_groups: int, d_vocab: int) -> torch.Tensor:
    """Per group of N_DRAWS consecutive rows, how often each token was drawn."""
    grouped = draws.view(n_groups, N_DRAWS)
    return torch.stack([torch.bincount(g, minlength=d_vocab).double() / N_DRAWS for g in grouped])


def _check_distribution(distributions: torch.Tensor, seed: int, where: str) -> None:
    """``distributions`` (groups, d_vocab) logits; each repeated N_DRAWS times in one batch."""
    n_groups, d_vocab = distributions.shape
    logits = distributions.repeat_interleave(N_DRAWS, dim=0)
    draws = _draw(logits, seed, where=where)
    frequencies = _frequencies(draws, n_groups, d_vocab)
    probs = distributions.double().softmax(-1)
    if _fits(frequencies, probs, N_DRAWS):
        return
    finite = torch.isfinite(distributions)
    argmax = torch.zeros_like(probs).scatter(-1, distributions.argmax(-1, keepdim=True), 1.0)
    mistakes = {
        "Every row gives the most likely token: that is greedy decoding. Draw from softmax(logits) instead, for "
        "example with torch.multinomial.": argmax,
        "The draws follow the logits themselves as weights, not softmax(logits): apply the softmax first.":
            distributions.clamp(min=0).double() / distributions.clamp(min=0).double().sum(-1, keepdim=True),
        "The draws are uniform over the tokens: sample from softmax(logits), not from equal weights.":
            finite.double() / finite.double().sum(-1, keepdim=True),
    }
    if n_groups > 1:
        mistakes["Each row's draws follow a softmax over the batch axis: the softmax goes over the vocabulary "
                 "(dim=-1)."] = logits.double().softmax(0).view(n_groups, N_DRAWS, d_vocab).mean(1) / \
            logits.double().softmax(0).view(n_groups, N_DRAWS, d_vocab).mean(1).sum(-1, keepdim=True)
    for message, mistaken in mistakes.items():
        if _fits(frequencies, mistaken, N_DRAWS) and not torch.allclose(mistaken, probs, atol=1e-3):
            fail(f"{message} ({where})")
    gap = (frequencies - probs).abs()
    group, token = divmod(int(gap.argmax()), d_vocab)
    fail(f"The draws do not follow softmax(logits) ({where}): in distribution {group}, token {token} was drawn "
         f"{frequencies[group, token]:.3f} of the time over {N_DRAWS} rows, but its probability is "
         f"{probs[group, token]:.3f}. Draw each row independently from the softmax of that row.")


DISTRIBUTIONS = {
    "three rows of different peakedness, vocabulary 5": torch.tensor(
        [[2.0, 0.5, -1.0, 0.0, 1.0], [0.1, 0.0, -0.1, 0.2, 0.0], [-3.0, 4.0, 0.0, 1.0, 2.5]]),
    "a row with negative logits only, vocabulary 7": torch.tensor([[-2.0, -0.5, -1.5, -4.0, -0.7, -3.0, -1.0]]),
}


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", list(DISTRIBUTIONS))
def test_frequencies_follow_the_softmax(name, seed):
    """each row's draws follow softmax(logits) over many rows (several distributions, two seeds)"""
    _check_distribution(DISTRIBUTIONS[name], seed, f"{name}, each repeated {N_DRAWS} times, generator seed {seed}")


def test_ties_are_drawn_equally():
    """tied logits are drawn equally often (not always the first of them)"""
    _check_distribution(torch.tensor([[1.0, 1.0, 1.0, -1.0], [0.0, 2.0, 2.0, 0.0]]), 2,
                        f"rows with tied logits [1, 1, 1, -1] and [0, 2, 2, 0], each repeated {N_DRAWS} times")


def test_minus_infinity_is_never_drawn():
    """a token whose logit is -inf is never drawn (logits from top-k or top-p)"""
    neg_inf = float("-inf")
    distributions = torch.tensor([[neg_inf, 0.5, neg_inf, 0.0, 1.0], [0.0, neg_inf, neg_inf, neg_inf, neg_inf]])
    where = f"rows [-inf, 0.5, -inf, 0, 1] and [0, -inf, -inf, -inf, -inf], each repeated {N_DRAWS} times"
    draws = _draw(distributions.repeat_interleave(N_DRAWS, dim=0), 3, where=where).view(2, N_DRAWS)
    for row in range(2):
        drawn_masked = sorted({t for t in draws[row].tolist() if not math.isfinite(float(distributions[row, t]))})
        expect(not drawn_masked, f"Your sampler drew token(s) {drawn_masked}, whose logit is -inf, in row {row} "
                                 f"({where}). exp(-inf) = 0: softmax gives them probability 0 (don't replace -inf "
                                 "by a finite number).")
    _check_distribution(distributions, 3, where)


def test_batch_of_one():
    """a batch of one row returns shape (1,), torch.long"""
    with seeded(5):
        logits = torch.randn(1, 9)
    _draw(logits, 4, where="a batch of one row, vocabulary 9")


def test_the_generator_is_used():
    """the generator decides the draws: the same seed repeats them, another seed changes them, the global RNG plays no part"""
    logits = torch.zeros(200, 6)  # uniform rows: a correct sampler's draws collide with probability 6^-200
    where = "200 rows of 6 equal logits"
    state = torch.get_rng_state()
    first = _draw(logits, 7, where=f"{where}, generator seed 7, global seed 1", global_seed=1)
    again = _draw(logits, 7, where=f"{where}, generator seed 7, global seed 2", global_seed=2)
    other = _draw(logits, 8, where=f"{where}, generator seed 8, global seed 1", global_seed=1)
    if not torch.equal(first, again):
        fail(f"Two generators with the same seed (7) gave different draws ({where}; torch's global seed differed "
             "between the calls): the draws come from the global RNG. Pass generator=generator to torch.multinomial "
             "(or torch.rand).")
    if torch.equal(first, other):
        fail(f"Generators seeded 7 and 8 gave the same draws ({where}): the generator's state is ignored. Use the "
             "generator you are given, without seeding it again or making a new one.")
    generator = torch.Generator().manual_seed(9)
    global_before = torch.get_rng_state()
    one = run_learner(submitted(), logits.clone(), generator, what="your sample_categorical (first call)")
    two = run_learner(submitted(), logits.clone(), generator, what="your sample_categorical (second call)")
    changed_global = not torch.equal(torch.get_rng_state(), global_before)
    torch.set_rng_state(state)
    expect(not changed_global, f"Your sampler changed torch's global random state ({where}): the generator should "
                               "be the only source of randomness (no torch.manual_seed, no draw without "
                               "generator=...).")
    if isinstance(one, torch.Tensor) and isinstance(two, torch.Tensor) and torch.equal(one, two):
        fail(f"Two calls with the same generator gave the same draws ({where}): the generator is re-seeded or "
             "copied inside. Draw from it directly, so it moves on after each call.")
