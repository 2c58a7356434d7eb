"""Mutants and alternatives for ch1.beam_search_with_eos."""
import torch

from circuitlab.grading.meta import alternative, mutant


@torch.no_grad()
def _search(model, tokens, n_new, beam_width, eos_token, *, first_finished=False, drop_finished=False,
            score_eos=True, mean_score=False, keep_growing=False):
    """The reference rule, with one optional change per flag."""
    n_prompt, beams = tokens.shape[0], [(0.0, tokens)]

    def finished(sequence):
        new = sequence[n_prompt:].tolist()
        return eos_token in new

    def rank(beam):
        return beam[0] / max(beam[1].shape[0] - n_prompt, 1) if mean_score else beam[0]

    for _ in range(n_new):
        done = [] if keep_growing else [b for b in beams if finished(b[1])]
        if first_finished and done:
            return done[0][1], done[0][0]
        growing = beams if keep_growing else [b for b in beams if not finished(b[1])]
        if not growing:
            break
        log_probs = model(torch.stack([s for _, s in growing]))[:, -1].log_softmax(-1)
        if drop_finished:
            log_probs[:, eos_token] = float("-inf")
        if not score_eos:
            log_probs[:, eos_token] = torch.where(torch.isfinite(log_probs[:, eos_token]), 0.0, log_probs[:, eos_token])
        vocab = log_probs.shape[-1]
        candidates = [(s + float(log_probs[b, t]), torch.cat([seq, torch.tensor([t])]))
                      for b, (s, seq) in enumerate(growing) for t in range(vocab)]
        beams = sorted(done + candidates, key=rank, reverse=True)[:beam_width]
    best = max(beams, key=rank)
    sequence = best[1]
    if keep_growing:
        new = sequence[n_prompt:].tolist()
        if eos_token in new:
            sequence = sequence[: n_prompt + new.index(eos_token) + 1]
    return sequence, (rank(best) if mean_score else best[0])


@mutant(hint="never finishes a beam")
def ignores_eos(model, tokens, n_new, beam_width, eos_token):
    from circuitlab.ch1.reference import beam_search

    return beam_search(model, tokens, n_new, beam_width)


@mutant(hint="first beam to finish")
def returns_the_first_finished(model, tokens, n_new, beam_width, eos_token):
    return _search(model, tokens, n_new, beam_width, eos_token, first_finished=True)


@mutant(hint="must stay in the pool")
def drops_finished_beams(model, tokens, n_new, beam_width, eos_token):
    return _search(model, tokens, n_new, beam_width, eos_token, drop_finished=True)


@mutant(hint="EOS token's log-probability")
def eos_scores_nothing(model, tokens, n_new, beam_width, eos_token):
    return _search(model, tokens, n_new, beam_width, eos_token, score_eos=False)


@mutant(hint="no length penalty")
def length_normalised(model, tokens, n_new, beam_width, eos_token):
    return _search(model, tokens, n_new, beam_width, eos_token, mean_score=True)


@mutant(hint="nothing added after EOS")
def finished_beams_keep_scoring(model, tokens, n_new, beam_width, eos_token):
    """Keeps extending every beam and only cuts the winner at its EOS at the end."""
    return _search(model, tokens, n_new, beam_width, eos_token, keep_growing=True)


@mutant(hint="past the end-of-sequence token")
def pads_with_eos(model, tokens, n_new, beam_width, eos_token):
    sequence, score = _search(model, tokens, n_new, beam_width, eos_token)
    padding = torch.full((tokens.shape[0] + n_new - sequence.shape[0],), eos_token, dtype=torch.long)
    return torch.cat([sequence, padding]), score


@mutant(hint="0-dim")
def score_as_a_tensor(model, tokens, n_new, beam_width, eos_token):
    sequence, score = _search(model, tokens, n_new, beam_width, eos_token)
    return sequence, torch.tensor(score)


@alternative
def with_python_lists(model, tokens, n_new, beam_width, eos_token):
    return _search(model, tokens, n_new, beam_width, eos_token)


@alternative
@torch.no_grad()
def padded_beams_scored_zero_after_eos(model, tokens, n_new, beam_width, eos_token):
    """All beams grow every step; a finished beam may only add EOS, at log-probability 0; padding cut at the end."""
    n_prompt = tokens.shape[0]
    beams, scores = tokens[None], torch.zeros(1)
    for _ in range(n_new):
        log_probs = model(beams)[:, -1].log_softmax(-1)
        done = (beams[:, n_prompt:] == eos_token).any(-1)
        frozen = torch.full_like(log_probs, float("-inf"))
        frozen[:, eos_token] = 0.0
        log_probs = torch.where(done[:, None], frozen, log_probs)
        scores, flat = (scores[:, None] + log_probs).flatten().topk(min(beam_width, log_probs.numel()))
        keep = torch.isfinite(scores)
        scores, flat = scores[keep], flat[keep]
        vocab = log_probs.shape[-1]
        beams = torch.cat([beams[flat // vocab], (flat % vocab)[:, None]], -1)
    best = beams[0]
    new = best[n_prompt:].tolist()
    if eos_token in new:
        best = best[: n_prompt + new.index(eos_token) + 1]
    return best, scores[0].item()
