"""Mutants and alternatives for ch2.induction_scores_ablated."""
from functools import partial

import torch

from circuitlab.grading.meta import alternative, mutant


def _scores(model, tokens, half_len, heads, *, mean_dims=(0,), zero=False, layer=0, same_run=True, layers=False):
    name = f"blocks.{layer}.attn.hook_z"
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
        z = cache[name]
        means = z.mean(dim=0) if mean_dims == (0,) else z.mean(dim=mean_dims)[None].expand(z.shape[1], -1, -1)
        out = {}

        def ablate(z, hook):
            z = z.clone()
            z[:, :, heads] = 0.0 if zero else means[:, heads]
            return z

        def record(pattern, hook):
            stripe = pattern.diagonal(offset=-(half_len - 1), dim1=-2, dim2=-1)[..., 2:]
            out[hook.layer()] = stripe.mean((0, -1))

        hooks = [(f"blocks.{l}.attn.hook_pattern", record) for l in range(model.cfg.n_layers)]
        if same_run:
            model.run_with_hooks(tokens, fwd_hooks=[(name, ablate), *hooks])
        else:
            model.run_with_hooks(tokens, fwd_hooks=[(name, ablate)])
            model.run_with_hooks(tokens, fwd_hooks=hooks)
    if layers:
        return torch.stack([out[l] for l in range(model.cfg.n_layers)])
    return out[1]


@mutant(hint="zeroed the heads")
def zero_ablation(model, tokens, half_len, heads):
    return _scores(model, tokens, half_len, heads, zero=True)


@mutant(hint="over positions as well")
def mean_over_positions(model, tokens, half_len, heads):
    return _scores(model, tokens, half_len, heads, mean_dims=(0, 1))


@mutant(hint="same forward pass")
def ablation_in_another_run(model, tokens, half_len, heads):
    return _scores(model, tokens, half_len, heads, same_run=False)


@mutant(hint="did not reach")  # layer 1's z comes after its pattern: the scores stay clean
def ablates_layer_one(model, tokens, half_len, heads):
    return _scores(model, tokens, half_len, heads, layer=1)


@mutant(hint="only the first head")
def first_head_only(model, tokens, half_len, heads):
    return _scores(model, tokens, half_len, heads[:1])


@mutant(hint="shape")
def every_layer(model, tokens, half_len, heads):
    return _scores(model, tokens, half_len, heads, layers=True)


@mutant(hint="left hooks")
def hooks_left_behind(model, tokens, half_len, heads):
    scores = _scores(model, tokens, half_len, heads)
    model.add_hook("blocks.1.attn.hook_pattern", lambda pattern, hook: None)
    return scores


def _put(z, hook, head, value):
    z = z.clone()
    z[:, :, head] = value
    return z


@alternative
def one_hook_per_head_and_a_cache(model, tokens, half_len, heads):
    """A hook per ablated head (functools.partial), then the patterns from run_with_cache under those hooks."""
    with torch.no_grad():
        _, clean = model.run_with_cache(tokens)
        hooks = [("blocks.0.attn.hook_z", partial(_put, head=h, value=clean["z", 0][:, :, h].mean(0))) for h in heads]
        with model.hooks(fwd_hooks=hooks):
            _, ablated = model.run_with_cache(tokens)
        pattern = ablated["pattern", 1]
    seq = tokens.shape[1]
    queries = torch.arange(half_len + 1, seq)
    return pattern[:, :, queries, queries - half_len + 1].mean((0, 2))
