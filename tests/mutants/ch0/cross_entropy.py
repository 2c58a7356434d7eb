"""Mutants and alternatives for ch0.cross_entropy."""
import torch
import torch.nn.functional as F
from einops import rearrange

from circuitlab.grading.meta import alternative, mutant


def _long_only(targets):
    if targets.dtype != torch.long:
        raise TypeError(f"targets must be torch.long, not {targets.dtype}")


def _stable_log_probs(logits):
    m = logits.amax(-1, keepdim=True)
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    return logits - ((logits - m).exp().sum(-1, keepdim=True).log() + m)


def _target_entries(values, targets):
    return values.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@mutant(hint="Not stable")
def unstable(logits, targets):
    _long_only(targets)
    log_probs = logits - logits.exp().sum(-1, keepdim=True).log()
    return -_target_entries(log_probs, targets).mean()


@mutant(hint="You summed the losses")
def summed(logits, targets):
    _long_only(targets)
    return -_target_entries(_stable_log_probs(logits), targets).sum()


@mutant(hint="averaged over the classes too")
def mean_over_everything(logits, targets):
    _long_only(targets)
    return -_stable_log_probs(logits).mean()


@mutant(hint="left out log_softmax")
def minus_the_logit(logits, targets):
    _long_only(targets)
    return -_target_entries(logits, targets).mean()


@mutant(hint="averaged probabilities")
def probabilities(logits, targets):
    _long_only(targets)
    return -_target_entries(_stable_log_probs(logits).exp(), targets).mean()


@mutant(hint="sign is flipped")
def flipped(logits, targets):
    _long_only(targets)
    return _target_entries(_stable_log_probs(logits), targets).mean()


@mutant(hint="every target for every row")
def unpaired_index(logits, targets):
    _long_only(targets)
    return -_stable_log_probs(logits)[..., targets].mean()


@mutant(hint="int32 targets returned a result")
def accepts_any_dtype(logits, targets):
    return -_target_entries(_stable_log_probs(logits), targets).mean()


@mutant(hint="converting them with .long()")
def casts_targets(logits, targets):
    return -_target_entries(_stable_log_probs(logits), targets.long()).mean()


@mutant(hint="without .item()")
def python_float(logits, targets):
    _long_only(targets)
    return -_target_entries(_stable_log_probs(logits), targets).mean().item()


@mutant(hint="one loss per position")
def per_position(logits, targets):
    _long_only(targets)
    return -_target_entries(_stable_log_probs(logits), targets)


@mutant(hint="has dtype torch.float32")
def float32_always(logits, targets):
    _long_only(targets)
    return -_target_entries(_stable_log_probs(logits.float()), targets).mean()


@mutant(hint="detached")
def detached(logits, targets):
    _long_only(targets)
    return -_target_entries(_stable_log_probs(logits.detach()), targets).mean()


@mutant(hint="logits of shape (2, 4, 6)")
def first_row_only_for_3d(logits, targets):
    # Reads only (N, C): a (batch, seq, vocab) input loses its sequence axis.
    _long_only(targets)
    flat_logits = logits if logits.ndim == 2 else logits[:, 0]
    flat_targets = targets if targets.ndim == 1 else targets[:, 0]
    return -_target_entries(_stable_log_probs(flat_logits), flat_targets).mean()


@alternative
def with_one_hot_sum(logits, targets):
    _long_only(targets)
    chosen = F.one_hot(targets, logits.shape[-1]).bool()
    log_probs = _stable_log_probs(logits)
    return -torch.where(chosen, log_probs, torch.zeros_like(log_probs)).sum(-1).mean()


@alternative
def with_einops_and_indexing(logits, targets):
    if targets.dtype is not torch.int64:
        raise ValueError(f"expected int64 class indices, got {targets.dtype}")
    flat = rearrange(logits, "... c -> (...) c")
    flat_targets = rearrange(targets, "... -> (...)")
    m = flat.amax(-1, keepdim=True).detach()
    m = torch.where(torch.isfinite(m), m, torch.zeros_like(m))
    normaliser = (flat - m).exp().sum(-1).log() + m[:, 0]
    return (normaliser - flat[torch.arange(flat.shape[0]), flat_targets]).mean()


@alternative
def with_torch_logsumexp(logits, targets):
    _long_only(targets)
    return (torch.logsumexp(logits, -1) - _target_entries(logits, targets)).mean()
