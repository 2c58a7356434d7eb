"""Mutants and alternatives for ch1.frequency_penalty."""
import torch
import torch.nn.functional as F

from circuitlab.grading.meta import alternative, mutant


def _counts(logits, tokens):
    return torch.zeros_like(logits).scatter_add(-1, tokens, torch.ones_like(tokens, dtype=logits.dtype))


@mutant(hint="counts occurrences, not presence")
def indexed_assignment(logits, tokens, penalty):
    out = logits.clone()
    out[torch.arange(tokens.shape[0])[:, None], tokens] -= penalty  # a repeated index is applied once
    return out


@mutant(hint="counts occurrences, not presence")
def presence_only(logits, tokens, penalty):
    return logits - penalty * (_counts(logits, tokens) > 0).to(logits.dtype)


@mutant(hint="whole batch")
def pooled_over_the_batch(logits, tokens, penalty):
    counts = torch.bincount(tokens.flatten(), minlength=logits.shape[-1]).to(logits.dtype)
    return logits - penalty * counts


@mutant(hint="subtract it")
def adds(logits, tokens, penalty):
    return logits + penalty * _counts(logits, tokens)


@mutant(hint="in place")
def in_place(logits, tokens, penalty):
    return logits.sub_(penalty * _counts(logits, tokens))


@mutant(hint="dtype")
def float32_counts(logits, tokens, penalty):
    return (logits - penalty * _counts(logits, tokens)).float()


@mutant(hint="log-probabilities")
def normalised(logits, tokens, penalty):
    return (logits - penalty * _counts(logits, tokens)).log_softmax(-1)


@mutant(hint="factor")
def divides_seen_logits(logits, tokens, penalty):
    counts = _counts(logits, tokens)
    return torch.where(counts > 0, logits / (1 + penalty * counts), logits)


@mutant(hint="shape")
def bare_squeeze(logits, tokens, penalty):
    return (logits - penalty * _counts(logits, tokens)).squeeze()


@mutant(hint="row")
def counts_only_the_last_token(logits, tokens, penalty):
    return logits - penalty * F.one_hot(tokens[:, -1], logits.shape[-1]).to(logits.dtype)


@alternative
def one_hot_sum(logits, tokens, penalty):
    return logits - penalty * F.one_hot(tokens, logits.shape[-1]).sum(-2).to(logits.dtype)


@alternative
def bincount_per_row(logits, tokens, penalty):
    counts = torch.stack([torch.bincount(row, minlength=logits.shape[-1]) for row in tokens])
    return logits - penalty * counts.to(logits.dtype)


@alternative
def index_put_accumulate(logits, tokens, penalty):
    rows = torch.arange(tokens.shape[0])[:, None].expand_as(tokens)
    penalties = torch.full(tokens.shape, -float(penalty), dtype=logits.dtype)
    return logits.clone().index_put_((rows, tokens), penalties, accumulate=True)
