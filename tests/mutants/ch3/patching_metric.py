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


@mutant(hint="Python float")
def returns_a_python_float(logits, end_pos, io_tokens, s_tokens, clean_diff, corrupt_diff):
    return ((_diff(logits, end_pos, io_tokens, s_tokens) - corrupt_diff) / (clean_diff - corrupt_diff)).item()


@mutant(hint="detached")
def rebuilt_from_a_number(logits, end_pos, io_tokens, s_tokens, clean_diff, corrupt_diff):
    diff = float(_diff(logits, end_pos, io_tokens, s_tokens))
    return torch.tensor((diff - corrupt_diff) / (clean_diff - corrupt_diff))


@mutant(hint="absolute value")
def unsigned_scale(logits, end_pos, io_tokens, s_tokens, clean_diff, corrupt_diff):
    return (_diff(logits, end_pos, io_tokens, s_tokens) - corrupt_diff) / abs(clean_diff - corrupt_diff)


@mutant(hint="position -1")
def reads_position_minus_one(logits, end_pos, io_tokens, s_tokens, clean_diff, corrupt_diff):
    rows = torch.arange(logits.shape[0])
    diff = (logits[rows, -1, io_tokens] - logits[rows, -1, s_tokens]).mean()
    return (diff - corrupt_diff) / (clean_diff - corrupt_diff)


@alternative
def as_a_lerp_inverse(logits, end_pos, io_tokens, s_tokens, clean_diff, corrupt_diff):
    scale = torch.tensor(clean_diff - corrupt_diff, dtype=logits.dtype)
    return torch.sub(_diff(logits, end_pos, io_tokens, s_tokens), corrupt_diff).div(scale)
