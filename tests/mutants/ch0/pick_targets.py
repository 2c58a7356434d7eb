"""Mutants and alternatives for ch0.pick_targets."""
import torch
import torch.nn.functional as F
from einops import rearrange

from circuitlab.grading.meta import alternative, mutant


def _require_long(targets):
    if targets.dtype != torch.long:
        raise TypeError(f"targets must be torch.long, not {targets.dtype}")


@mutant(hint="int32 targets returned a result")
def accepts_any_dtype(log_probs, targets):
    return log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@mutant(hint="converting them with .long()")
def casts_targets(log_probs, targets):
    return log_probs.gather(-1, targets.long().unsqueeze(-1)).squeeze(-1)


@mutant(hint="does not name the dtype")
def silent_assert(log_probs, targets):
    assert targets.dtype == torch.long
    return log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@mutant(hint="bare .squeeze()")
def bare_squeeze(log_probs, targets):
    _require_long(targets)
    return log_probs.gather(-1, targets.unsqueeze(-1)).squeeze()


@mutant(hint="trailing axis")
def keeps_index_axis(log_probs, targets):
    _require_long(targets)
    return log_probs.gather(-1, targets.unsqueeze(-1))


@mutant(hint="picks every target for every position")
def indexes_with_the_whole_table(log_probs, targets):
    _require_long(targets)
    return log_probs[:, :, targets]


@mutant(hint="shifted by one position")
def shifted_like_a_loss(log_probs, targets):
    _require_long(targets)
    return log_probs[:, :-1].gather(-1, targets[:, 1:, None])[..., 0]


@mutant(hint="minus the log-probabilities")
def negated(log_probs, targets):
    _require_long(targets)
    return -log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@mutant(hint="detached")
def detached(log_probs, targets):
    _require_long(targets)
    return log_probs.detach().gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@mutant(hint="has dtype torch.float32")
def float32_always(log_probs, targets):
    _require_long(targets)
    return log_probs.float().gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@mutant(hint="modified its input in place")
def clamps_in_place(log_probs, targets):
    _require_long(targets)
    log_probs.clamp_(min=-1e9)
    return log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@mutant(hint="-inf")
def masks_minus_infinity(log_probs, targets):
    _require_long(targets)
    return torch.nan_to_num(log_probs, neginf=-1e4).gather(-1, targets.unsqueeze(-1)).squeeze(-1)


@alternative
def with_advanced_indexing(log_probs, targets):
    _require_long(targets)
    batch, seq = targets.shape
    rows = torch.arange(batch)[:, None].expand(batch, seq)
    positions = torch.arange(seq)[None, :].expand(batch, seq)
    return log_probs[rows, positions, targets]


@alternative
def with_one_hot_sum(log_probs, targets):
    _require_long(targets)
    one_hot = F.one_hot(targets, log_probs.shape[-1]).bool()
    # where() rather than a product: 0 * -inf would be NaN at the tokens that are not targets
    return torch.where(one_hot, log_probs, torch.zeros_like(log_probs)).sum(-1)


@alternative
def with_einops_flattening(log_probs, targets):
    if targets.dtype != torch.long:
        raise ValueError(f"expected torch.int64 targets, got {targets.dtype}")
    flat = rearrange(log_probs, "b s v -> (b s) v")
    picked = flat[torch.arange(flat.shape[0]), rearrange(targets, "b s -> (b s)")]
    return rearrange(picked, "(b s) -> b s", b=targets.shape[0])
