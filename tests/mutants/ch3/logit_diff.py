"""Mutants and alternatives for ch3.logit_diff."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="position -1")
def reads_last_position(logits, end_pos, io_tokens, s_tokens, per_prompt=False):
    rows = torch.arange(logits.shape[0])
    diffs = logits[rows, -1, io_tokens] - logits[rows, -1, s_tokens]
    return diffs if per_prompt else diffs.mean()


@mutant(hint="averaged over the wrong axis")
def wrong_axis(logits, end_pos, io_tokens, s_tokens, per_prompt=False):
    final = logits[torch.arange(logits.shape[0]), end_pos]
    table = final[:, io_tokens] - final[:, s_tokens]  # (batch, batch): every prompt against every answer
    return table.mean(0) if per_prompt else table.mean()


@mutant(hint="S minus IO")
def sign_flipped(logits, end_pos, io_tokens, s_tokens, per_prompt=False):
    rows = torch.arange(logits.shape[0])
    final = logits[rows, end_pos]
    diffs = final[rows, s_tokens] - final[rows, io_tokens]
    return diffs if per_prompt else diffs.mean()


@mutant(hint="used probabilities")
def probabilities(logits, end_pos, io_tokens, s_tokens, per_prompt=False):
    rows = torch.arange(logits.shape[0])
    probs = logits[rows, end_pos].softmax(-1)
    diffs = probs[rows, io_tokens] - probs[rows, s_tokens]
    return diffs if per_prompt else diffs.mean()


@mutant(hint="one number per prompt")
def ignores_per_prompt(logits, end_pos, io_tokens, s_tokens, per_prompt=False):
    rows = torch.arange(logits.shape[0])
    final = logits[rows, end_pos]
    return (final[rows, io_tokens] - final[rows, s_tokens]).mean()


@alternative
def with_gather(logits, end_pos, io_tokens, s_tokens, per_prompt=False):
    index = end_pos.view(-1, 1, 1).expand(-1, 1, logits.shape[-1])
    final = logits.gather(1, index).squeeze(1)
    answers = torch.stack([io_tokens, s_tokens], dim=1)
    picked = final.gather(1, answers)
    diffs = picked[:, 0] - picked[:, 1]
    return diffs if per_prompt else diffs.mean()


@alternative
def with_log_probs(logits, end_pos, io_tokens, s_tokens, per_prompt=False):
    rows = torch.arange(logits.shape[0])
    log_probs = logits[rows, end_pos].log_softmax(-1)
    diffs = log_probs[rows, io_tokens] - log_probs[rows, s_tokens]
    return diffs if per_prompt else diffs.mean()


@mutant(hint="Python float")
def returns_a_python_float(logits, end_pos, io_tokens, s_tokens, per_prompt=False):
    rows = torch.arange(logits.shape[0])
    final = logits[rows, end_pos]
    diffs = final[rows, io_tokens] - final[rows, s_tokens]
    return diffs if per_prompt else diffs.mean().item()


@mutant(hint="squeeze")
def squeezes_the_batch(logits, end_pos, io_tokens, s_tokens, per_prompt=False):
    rows = torch.arange(logits.shape[0])
    final = logits[rows, end_pos]
    diffs = (final[rows, io_tokens] - final[rows, s_tokens]).squeeze()
    return diffs if per_prompt else diffs.mean()


@mutant(hint="detached")
def through_numpy(logits, end_pos, io_tokens, s_tokens, per_prompt=False):
    final = logits.detach().numpy()[range(logits.shape[0]), end_pos.numpy()]
    diffs = torch.tensor(final[range(len(final)), io_tokens.numpy()] - final[range(len(final)), s_tokens.numpy()])
    return diffs if per_prompt else diffs.mean()


@alternative
def with_a_loop(logits, end_pos, io_tokens, s_tokens, per_prompt=False):
    diffs = torch.stack([logits[i, end_pos[i], io_tokens[i]] - logits[i, end_pos[i], s_tokens[i]]
                         for i in range(logits.shape[0])])
    return diffs if per_prompt else diffs.mean()
