"""Mutants and alternatives for ch1.beam_search."""
import torch

from circuitlab.grading.meta import alternative, mutant


@mutant(hint="greedy sequence")
@torch.no_grad()
def greedy(model, tokens, n_new, beam_width):
    sequence, total = tokens, 0.0
    for _ in range(n_new):
        log_probs = model(sequence[None])[0, -1].log_softmax(-1)
        best = log_probs.argmax()
        total += log_probs[best].item()
        sequence = torch.cat([sequence, best[None]])
    return sequence, total


@mutant(hint="summed log-probability")
@torch.no_grad()
def ranks_by_last_step(model, tokens, n_new, beam_width):
    beams, scores = tokens[None], torch.zeros(1)
    for _ in range(n_new):
        log_probs = model(beams)[:, -1].log_softmax(-1)
        step_scores, flat = log_probs.flatten().topk(beam_width)  # forgets the history
        vocab = log_probs.shape[-1]
        scores = scores[flat // vocab] + step_scores
        beams = torch.cat([beams[flat // vocab], (flat % vocab)[:, None]], -1)
    return beams[0], scores[0].item()


@mutant(hint="return the best beam")
@torch.no_grad()
def returns_last_beam(model, tokens, n_new, beam_width):
    beams, scores = tokens[None], torch.zeros(1)
    for _ in range(n_new):
        log_probs = model(beams)[:, -1].log_softmax(-1)
        scores, flat = (scores[:, None] + log_probs).flatten().topk(beam_width)
        vocab = log_probs.shape[-1]
        beams = torch.cat([beams[flat // vocab], (flat % vocab)[:, None]], -1)
    return beams[-1], scores[-1].item()


@alternative
@torch.no_grad()
def with_python_lists(model, tokens, n_new, beam_width):
    beams = [(0.0, tokens)]
    for _ in range(n_new):
        candidates = []
        for score, sequence in beams:
            log_probs = model(sequence[None])[0, -1].log_softmax(-1)
            values, indices = log_probs.topk(beam_width)
            candidates += [(score + v.item(), torch.cat([sequence, i[None]])) for v, i in zip(values, indices)]
        beams = sorted(candidates, key=lambda c: c[0], reverse=True)[:beam_width]
    return beams[0][1], beams[0][0]


@mutant(hint="0-dim")
def score_as_a_tensor(model, tokens, n_new, beam_width):
    from circuitlab.ch1.reference import beam_search

    sequence, score = beam_search(model, tokens, n_new, beam_width)
    return sequence, torch.tensor(score)
