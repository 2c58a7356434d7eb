"""Mutants and alternatives for ch3.patching_metric."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _diff(logits, end_pos, io_tokens, s_tokens):
    rows = torch.arange(logits.shape[0])
    final = logits[rows, end_pos]
    return (final[rows, io_tokens] - final[rows, s_tokens]).mean()


@mutant(hint="normalised the wrong way round")
def wrong_way_round(logits, end_pos, io_tokens, s_tokens, clean_diff, corrupt_diff):
    return (clean_diff - _diff(logits, end_pos, io_tokens, s_tokens)) / (clean_diff - corrupt_diff)


@mutant(hint="divided by the clean logit difference only")
def over_clean(logits, end_pos, io_tokens, s_tokens, clean_diff, corrupt_diff):
    return _diff(logits, end_pos, io_tokens, s_tokens) / clean_diff


@mutant(hint="did not divide")
def not_divided(logits, end_pos, io_tokens, s_tokens, clean_diff, corrupt_diff):
    return _diff(logits, end_pos, io_tokens, s_tokens) - corrupt_diff


@alternative
def per_prompt_then_mean(logits, end_pos, io_tokens, s_tokens, clean_diff, corrupt_diff):
    rows = torch.arange(logits.shape[0])
    final = logits[rows, end_pos]
    per_prompt = (final[rows, io_tokens] - final[rows, s_tokens] - corrupt_diff) / (clean_diff - corrupt_diff)
    return per_prompt.mean()
