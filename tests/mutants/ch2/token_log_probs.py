"""Mutants and alternatives for ch2.token_log_probs."""
import torch
import torch.nn.functional as F

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="Off by one")
def same_position(logits, tokens):
    return logits.log_softmax(-1)[:, :-1].gather(-1, tokens[:, :-1, None])[..., 0]


@mutant(hint="not log-probabilities")
def probabilities(logits, tokens):
    return logits.softmax(-1)[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]


@mutant(hint="wrong axis")
def normalised_over_positions(logits, tokens):
    return logits.log_softmax(1)[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]


@mutant(hint="raw logits")
def unnormalised(logits, tokens):
    return logits[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]


@alternative
def with_cross_entropy(logits, tokens):
    batch, seq, vocab = logits.shape
    losses = F.cross_entropy(logits[:, :-1].reshape(-1, vocab), tokens[:, 1:].reshape(-1), reduction="none")
    return -losses.reshape(batch, seq - 1)


@alternative
def with_advanced_indexing(logits, tokens):
    log_probs = logits.log_softmax(-1)[:, :-1]
    b = torch.arange(logits.shape[0])[:, None]
    s = torch.arange(logits.shape[1] - 1)[None, :]
    return log_probs[b, s, tokens[:, 1:]]


@mutant(hint="shape")
def squeezes(logits, tokens):
    # .squeeze() drops a batch of size 1: the slices then cut the wrong axis.
    logits, tokens = logits.squeeze(), tokens.squeeze()
    return logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]


@mutant(hint="losses")
def negative_log_probs(logits, tokens):
    return -logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]


@alternative
def via_logsumexp(logits, tokens):
    chosen = logits[:, :-1].gather(-1, tokens[:, 1:, None])[..., 0]
    return chosen - logits[:, :-1].logsumexp(-1)
