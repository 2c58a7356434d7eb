"""Mutants and alternatives for ch2.logit_attribution."""
import einops
import torch

from circuitlab.grading.meta import alternative, mutant


def _components(model, cache):
    heads = [einops.einsum(cache["z", layer], model.W_O[layer], "b s h e, h e d -> b s h d")
             for layer in range(model.cfg.n_layers)]
    return torch.cat([(cache["embed"] + cache["pos_embed"])[:, :, None], *heads], dim=2)


@mutant(hint="final LayerNorm scale")
def without_ln_scale(model, cache, tokens):
    stack = _components(model, cache)
    stack = stack - stack.mean(-1, keepdim=True)
    return einops.einsum(stack[:, :-1], model.W_U[:, tokens[:, 1:]], "b s c d, d b s -> b s c")


@mutant(hint="centre each component")
def without_centring(model, cache, tokens):
    stack = _components(model, cache) / cache["ln_final.hook_scale"][:, :, None]
    return einops.einsum(stack[:, :-1], model.W_U[:, tokens[:, 1:]], "b s c d, d b s -> b s c")


@mutant(hint="current token")
def scores_current_token(model, cache, tokens):
    stack = _components(model, cache)
    stack = (stack - stack.mean(-1, keepdim=True)) / cache["ln_final.hook_scale"][:, :, None]
    return einops.einsum(stack[:, :-1], model.W_U[:, tokens[:, :-1]], "b s c d, d b s -> b s c")


@mutant(hint="shape")
def heads_only(model, cache, tokens):
    stack = _components(model, cache)[:, :, 1:]
    stack = (stack - stack.mean(-1, keepdim=True)) / cache["ln_final.hook_scale"][:, :, None]
    return einops.einsum(stack[:, :-1], model.W_U[:, tokens[:, 1:]], "b s c d, d b s -> b s c")


@alternative
def with_cache_helpers(model, cache, tokens):
    """TransformerLens's apply_ln_to_stack centres and divides by the cached final scale."""
    stack = einops.rearrange(_components(model, cache), "b s c d -> c b s d")
    normalised = cache.apply_ln_to_stack(stack, layer=None)
    unembed = einops.rearrange(model.W_U[:, tokens[:, 1:]], "d b s -> b s d")
    return einops.einsum(normalised[:, :, :-1], unembed, "c b s d, b s d -> b s c")
