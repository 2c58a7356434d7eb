"""Mutants and alternatives for ch4.attention_to_a."""
import einops
import torch

from circuitlab.grading.meta import alternative, mutant


def _pattern(model, tokens, name="blocks.0.attn.hook_pattern"):
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=name)
    return cache[name]


def _grid(model, x):
    return einops.rearrange(x, "(a b) head -> a b head", a=model.cfg.d_vocab_out)


@mutant(hint="attention to b")
def to_b(model, tokens):
    return _grid(model, _pattern(model, tokens)[:, :, -1, 1])


@mutant(hint="from the first position")
def from_the_first_position(model, tokens):
    return _grid(model, _pattern(model, tokens)[:, :, 0, 0])


@mutant(hint="from '=' to itself")
def to_itself(model, tokens):
    return _grid(model, _pattern(model, tokens)[:, :, -1, 2])


@mutant(hint="before the softmax")
def scores_from_q_and_k(model, tokens):
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
    q, k = cache["blocks.0.attn.hook_q"], cache["blocks.0.attn.hook_k"]  # [pair pos head d_head]
    scores = torch.einsum("nhd,nhd->nh", q[:, -1], k[:, 0]) / model.cfg.d_head ** 0.5
    return _grid(model, scores)


@mutant(hint="axes a and b are swapped")
def b_major(model, tokens):
    p = model.cfg.d_vocab_out
    return einops.rearrange(_pattern(model, tokens)[:, :, -1, 0], "(b a) head -> a b head", a=p)


@mutant(hint="keep the head axis")
def bare_squeeze(model, tokens):
    return _grid(model, _pattern(model, tokens)[:, :, -1, 0]).squeeze()


@mutant(hint="expected (113, 113, 4)")
def heads_first(model, tokens):
    p = model.cfg.d_vocab_out
    return einops.rearrange(_pattern(model, tokens)[:, :, -1, 0], "(a b) head -> head a b", a=p)


@alternative
def with_a_hook(model, tokens):
    """A forward hook that stores the pattern, removed by run_with_hooks; reshape instead of einops."""
    stored = {}

    def keep(pattern, hook):
        stored["pattern"] = pattern[:, :, -1, 0].detach().clone()

    with torch.no_grad():
        model.run_with_hooks(tokens, fwd_hooks=[("blocks.0.attn.hook_pattern", keep)])
    p = model.cfg.d_vocab_out
    return stored["pattern"].reshape(p, p, -1)
