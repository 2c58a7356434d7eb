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


@mutant(hint="b_O")
def adds_b_o_to_each_head(model, cache, tokens):
    heads = [einops.einsum(cache["z", layer], model.W_O[layer], "b s h e, h e d -> b s h d") + model.b_O[layer]
             for layer in range(model.cfg.n_layers)]
    stack = torch.cat([(cache["embed"] + cache["pos_embed"])[:, :, None], *heads], dim=2)
    stack = (stack - stack.mean(-1, keepdim=True)) / cache["ln_final.hook_scale"][:, :, None]
    return einops.einsum(stack[:, :-1], model.W_U[:, tokens[:, 1:]], "b s c d, d b s -> b s c")


@mutant(hint="changed the cache")
def writes_into_the_cache(model, cache, tokens):
    embed = cache["hook_embed"]
    embed += cache["hook_pos_embed"]  # in place: the caller's cache now holds the sum
    heads = [einops.einsum(cache["z", layer], model.W_O[layer], "b s h e, h e d -> b s h d")
             for layer in range(model.cfg.n_layers)]
    stack = torch.cat([embed[:, :, None], *heads], dim=2)
    stack = (stack - stack.mean(-1, keepdim=True)) / cache["ln_final.hook_scale"][:, :, None]
    return einops.einsum(stack[:, :-1], model.W_U[:, tokens[:, 1:]], "b s c d, d b s -> b s c")


@mutant(hint="shape")
def squeezes_the_batch(model, cache, tokens):
    stack = _components(model, cache).squeeze(0)  # drops a batch of size 1
    stack = (stack - stack.mean(-1, keepdim=True)) / cache["ln_final.hook_scale"].squeeze(0)[:, None]
    return einops.einsum(stack[:-1], model.W_U[:, tokens[0, 1:]], "s c d, d s -> s c")


@alternative
def with_stack_head_results(model, cache, tokens):
    """TransformerLens's decompose_resid-style helpers: per-head results without bias, then apply_ln_to_stack."""
    heads = [einops.rearrange(einops.einsum(cache["z", layer], model.W_O[layer], "b s h e, h e d -> b s h d"),
                              "b s h d -> h b s d") for layer in range(model.cfg.n_layers)]
    stack = torch.cat([(cache["embed"] + cache["pos_embed"])[None], *heads])
    normalised = cache.apply_ln_to_stack(stack, layer=None)
    logits_per_component = normalised[:, :, :-1] @ model.W_U  # component b s vocab
    targets = einops.repeat(tokens[:, 1:], "b s -> c b s 1", c=stack.shape[0])
    return einops.rearrange(logits_per_component.gather(-1, targets)[..., 0], "c b s -> b s c")
