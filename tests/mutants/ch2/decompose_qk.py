"""Mutants and alternatives for ch2.decompose_qk."""
import einops
import torch

from circuitlab.grading.meta import alternative, mutant


def _inputs(model, cache):
    heads = einops.einsum(cache["z", 0], model.W_O[0], "b s h e, h e d -> h b s d")
    return torch.cat([cache["embed"][None], cache["pos_embed"][None], heads])


@mutant(hint="LayerNorm scale")
def without_scale(model, cache, head):
    x = _inputs(model, cache)
    return (x - x.mean(-1, keepdim=True)) @ model.W_K[1, head]


@mutant(hint="W_Q")
def queries(model, cache, head):
    x = _inputs(model, cache)
    return (x - x.mean(-1, keepdim=True)) / cache["scale", 1, "ln1"] @ model.W_Q[1, head]


@mutant(hint="layer 0")
def layer_zero_keys(model, cache, head):
    x = _inputs(model, cache)
    return (x - x.mean(-1, keepdim=True)) / cache["scale", 1, "ln1"] @ model.W_K[0, head]


@mutant(hint="centre")
def uncentred(model, cache, head):
    return _inputs(model, cache) / cache["scale", 1, "ln1"] @ model.W_K[1, head]


@alternative
def with_apply_ln_to_stack(model, cache, head):
    normalised = cache.apply_ln_to_stack(_inputs(model, cache), layer=1)
    return einops.einsum(normalised, model.W_K[1, head], "c b s d, d e -> c b s e")


@mutant(hint="b_K")
def adds_the_key_bias(model, cache, head):
    x = _inputs(model, cache)
    return (x - x.mean(-1, keepdim=True)) / cache["scale", 1, "ln1"] @ model.W_K[1, head] + model.b_K[1, head]


@mutant(hint="layer 0's LayerNorm scale")
def layer_zero_scale(model, cache, head):
    x = _inputs(model, cache)
    return (x - x.mean(-1, keepdim=True)) / cache["scale", 0, "ln1"] @ model.W_K[1, head]


@mutant(hint="changed the cache")
def centres_the_cache_in_place(model, cache, head):
    embed = cache["hook_embed"]
    embed -= embed.mean(-1, keepdim=True)
    x = _inputs(model, cache)
    return (x - x.mean(-1, keepdim=True)) / cache["scale", 1, "ln1"] @ model.W_K[1, head]


@mutant(hint="shape")
def four_heads_hard_coded(model, cache, head):
    heads = [cache["z", 0][:, :, h] @ model.W_O[0, h] for h in range(4)]
    x = torch.stack([cache["embed"], cache["pos_embed"], *heads])
    return (x - x.mean(-1, keepdim=True)) / cache["scale", 1, "ln1"] @ model.W_K[1, head]


@alternative
def component_by_component(model, cache, head):
    scale = cache["blocks.1.ln1.hook_scale"]
    parts = [cache["hook_embed"], cache["hook_pos_embed"]]
    parts += [cache["blocks.0.attn.hook_z"][:, :, h] @ model.W_O[0, h] for h in range(model.cfg.n_heads)]
    return torch.stack([((p - p.mean(-1, keepdim=True)) / scale) @ model.W_K[1, head] for p in parts])
