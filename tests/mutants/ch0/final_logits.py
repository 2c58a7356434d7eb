"""Mutants and alternatives for ch0.final_logits."""
import torch
from einops import repeat

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="logits[:, -1]")
def last_position(logits, end_pos):
    return logits[:, -1]


@mutant(hint="every end position for every prompt")
def unpaired_index(logits, end_pos):
    return logits[:, end_pos]


@mutant(hint="one position before")
def treats_end_pos_as_a_length(logits, end_pos):
    return logits[torch.arange(logits.shape[0]), end_pos - 1]


@mutant(hint="bare .squeeze()")
def bare_squeeze(logits, end_pos):
    return logits[torch.arange(logits.shape[0]), end_pos].squeeze()


@mutant(hint="first prompt's end position")
def first_prompts_end(logits, end_pos):
    return logits[:, int(end_pos[0])]


@mutant(hint="has dtype torch.float32")
def float32_always(logits, end_pos):
    return logits.float()[torch.arange(logits.shape[0]), end_pos]


@mutant(hint="detached")
def detached(logits, end_pos):
    return logits.detach()[torch.arange(logits.shape[0]), end_pos]


@mutant(hint="modified its input in place")
def zeroes_the_padding(logits, end_pos):
    for b, end in enumerate(end_pos.tolist()):
        logits[b, end + 1:] = 0.0
    return logits[torch.arange(logits.shape[0]), end_pos]


@alternative
def with_gather(logits, end_pos):
    index = repeat(end_pos, "batch -> batch 1 vocab", vocab=logits.shape[-1])
    return logits.gather(1, index)[:, 0]


@alternative
def with_a_loop(logits, end_pos):
    return torch.stack([logits[b, end] for b, end in enumerate(end_pos.tolist())])


@alternative
def with_one_hot_positions(logits, end_pos):
    at_end = torch.arange(logits.shape[1]) == end_pos[:, None]  # (batch, seq)
    return torch.where(at_end[..., None], logits, torch.zeros_like(logits)).sum(1)
