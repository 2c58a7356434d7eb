"""Mutants and alternatives for ch1.next_token_loss."""
import torch
import torch.nn.functional as F
from einops import rearrange

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="You did not shift")
def no_shift(logits, tokens):
    return F.cross_entropy(logits.flatten(0, 1), tokens.flatten())


@mutant(hint="shifted the wrong way")
def shifted_backwards(logits, tokens):
    return F.cross_entropy(logits[:, 1:].flatten(0, 1), tokens[:, :-1].flatten())


@mutant(hint="averaged probabilities, not log-probabilities")
def probabilities(logits, tokens):
    return -logits[:, :-1].softmax(-1).gather(-1, tokens[:, 1:, None]).mean()


@mutant(hint="summed the losses")
def summed(logits, tokens):
    return F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten(), reduction="sum")


@mutant(hint="detached")
def detached(logits, tokens):
    return torch.tensor(F.cross_entropy(logits[:, :-1].flatten(0, 1), tokens[:, 1:].flatten()).item())


@alternative
def with_cross_entropy(logits, tokens):
    return F.cross_entropy(rearrange(logits[:, :-1], "b s v -> (b s) v"), rearrange(tokens[:, 1:], "b s -> (b s)"))


@alternative
def with_logsumexp(logits, tokens):
    picked = logits[:, :-1].gather(-1, tokens[:, 1:, None]).squeeze(-1)
    return (logits[:, :-1].logsumexp(-1) - picked).mean()


@mutant(hint="0-dim tensor")
def per_sequence_losses(logits, tokens):
    """The mean over positions only: one loss per sequence."""
    log_probs = logits[:, :-1].log_softmax(-1)
    return -log_probs.gather(-1, tokens[:, 1:, None]).squeeze(-1).mean(-1)


@mutant(hint="gradient of your loss")
def detached_normaliser(logits, tokens):
    """Right value, wrong gradient: the log-sum-exp is treated as a constant."""
    picked = logits[:, :-1].gather(-1, tokens[:, 1:, None]).squeeze(-1)
    return (logits[:, :-1].logsumexp(-1).detach() - picked).mean()


@alternative
def with_nll_loss(logits, tokens):
    log_probs = logits[:, :-1].log_softmax(-1)
    return F.nll_loss(rearrange(log_probs, "b s v -> (b s) v"), rearrange(tokens[:, 1:], "b s -> (b s)"))
