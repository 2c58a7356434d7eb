"""Moving weights between a TransformerLens model and the chapter's from-scratch model, and comparing them.

The learner's model uses the GPT-2 parameter names (``W_Q`` of shape [n_heads, d_model,
d_head], ...), which TransformerLens exposes as properties (``tl_model.W_Q`` of shape
[n_layers, n_heads, d_model, d_head]). So the mapping is a copy, layer by layer.
Nothing here loads a model: models come from :mod:`circuitlab.models`.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor, nn

__all__ = [
    "tl_config_for",
    "config_from_tl",
    "tl_twin",
    "load_tl_weights",
    "learner_activations",
    "compare_with_tl",
    "ACTIVATION_NAMES",
]


def tl_config_for(cfg: Any, seed: int = 0) -> dict[str, Any]:
    """The TransformerLens-native config of a model with the same shape as ``cfg`` (a TransformerConfig)."""
    return dict(
        d_model=cfg.d_model, n_layers=cfg.n_layers, n_heads=cfg.n_heads, d_head=cfg.d_head, d_mlp=cfg.d_mlp,
        d_vocab=cfg.d_vocab, n_ctx=cfg.n_ctx, eps=cfg.layer_norm_eps, act_fn="gelu_new",
        normalization_type="LN", positional_embedding_type="standard", init_mode="gpt2", seed=seed,
    )


def config_from_tl(tl_model: Any, config_class: type) -> Any:
    """A learner config (``config_class``, e.g. TransformerConfig) with the sizes of a TransformerLens model."""
    c = tl_model.cfg
    return config_class(
        d_model=c.d_model, n_layers=c.n_layers, n_heads=c.n_heads, d_head=c.d_head, d_mlp=c.d_mlp,
        d_vocab=c.d_vocab, n_ctx=c.n_ctx, layer_norm_eps=c.eps,
    )


def tl_twin(cfg: Any, seed: int = 0):
    """A randomly initialised TransformerLens-native model with the same shape as ``cfg``."""
    from circuitlab.models import native_model

    return native_model(tl_config_for(cfg, seed=seed))


def _layer_norm_weights(tl_model: Any, name: str, d_model: int) -> tuple[Tensor, Tensor]:
    """LayerNorm scale and shift; a model whose LayerNorms were folded into the next weights has none (ones, zeros)."""
    state = tl_model.state_dict()
    w = state.get(f"{name}.weight")
    b = state.get(f"{name}.bias")
    ones, zeros = torch.ones(d_model), torch.zeros(d_model)
    return (ones if w is None else w), (zeros if b is None else b)


@torch.no_grad()
def load_tl_weights(model: nn.Module, tl_model: Any) -> nn.Module:
    """Copy every weight of ``tl_model`` into the learner's ``model`` (same shape); returns ``model``.

    ``model`` must have the chapter's layout: ``embed.W_E``, ``pos_embed.W_pos``,
    ``blocks[i].{ln1,attn,ln2,mlp}``, ``ln_final``, ``unembed.W_U``/``b_U``.
    """
    d_model = tl_model.cfg.d_model
    mapping: dict[str, Tensor] = {
        "embed.W_E": tl_model.W_E,
        "pos_embed.W_pos": tl_model.W_pos[: model.pos_embed.W_pos.shape[0]],
        "unembed.W_U": tl_model.W_U,
        "unembed.b_U": tl_model.b_U,
    }
    mapping["ln_final.w"], mapping["ln_final.b"] = _layer_norm_weights(tl_model, "ln_final", d_model)
    for layer in range(tl_model.cfg.n_layers):
        prefix = f"blocks.{layer}"
        for name in ("W_Q", "W_K", "W_V", "W_O", "b_Q", "b_K", "b_V", "b_O"):
            mapping[f"{prefix}.attn.{name}"] = getattr(tl_model, name)[layer]
        for name in ("W_in", "b_in", "W_out", "b_out"):
            mapping[f"{prefix}.mlp.{name}"] = getattr(tl_model, name)[layer]
        for ln in ("ln1", "ln2"):
            mapping[f"{prefix}.{ln}.w"], mapping[f"{prefix}.{ln}.b"] = _layer_norm_weights(
                tl_model, f"{prefix}.{ln}", d_model
            )
    params = dict(model.named_parameters())
    missing = sorted(set(mapping) - set(params))
    if missing:
        raise KeyError(f"The model has no parameter(s) {missing[:4]}: keep the names the chapter's skeletons use.")
    for name, value in mapping.items():
        target = params[name]
        if target.shape != value.shape:
            raise ValueError(f"{name}: the model's parameter has shape {tuple(target.shape)}, "
                             f"TransformerLens's has {tuple(value.shape)}.")
        target.copy_(value.detach().to(target.device, target.dtype))
    return model


# Learner module path -> the TransformerLens cache name holding the same activation (its output).
def ACTIVATION_NAMES(n_layers: int) -> dict[str, str]:
    names = {"embed": "hook_embed", "pos_embed": "hook_pos_embed"}
    for layer in range(n_layers):
        names[f"blocks.{layer}.ln1"] = f"blocks.{layer}.ln1.hook_out"
        names[f"blocks.{layer}.attn"] = f"blocks.{layer}.hook_attn_out"
        names[f"blocks.{layer}.ln2"] = f"blocks.{layer}.ln2.hook_out"
        names[f"blocks.{layer}.mlp"] = f"blocks.{layer}.hook_mlp_out"
        names[f"blocks.{layer}"] = f"blocks.{layer}.hook_resid_post"
    names["ln_final"] = "ln_final.hook_out"
    names["unembed"] = "hook_unembed"
    return names


@torch.no_grad()
def learner_activations(model: nn.Module, tokens: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
    """Run ``model`` once and record each submodule's output with PyTorch forward hooks.

    This is what TransformerLens's ``run_with_cache`` does, in a few lines: a hook is a
    function called with a module's output every time the module runs.
    """
    wanted = ACTIVATION_NAMES(len(model.blocks))
    modules = dict(model.named_modules())
    recorded: dict[str, Tensor] = {}

    def recorder(name: str) -> Callable[..., None]:
        def hook(module: nn.Module, inputs: Any, output: Tensor) -> None:
            recorded[name] = output.detach()
        return hook

    handles = [modules[name].register_forward_hook(recorder(name)) for name in wanted if name in modules]
    try:
        logits = model(tokens)
    finally:
        for handle in handles:
            handle.remove()
    return logits, recorded


@torch.no_grad()
def compare_with_tl(model: nn.Module, tl_model: Any, tokens: Tensor) -> dict[str, float]:
    """Largest absolute difference between each of the learner's activations and TransformerLens's cache."""
    logits, mine = learner_activations(model, tokens)
    tl_logits, cache = tl_model.run_with_cache(tokens)
    differences = {}
    for module_name, cache_name in ACTIVATION_NAMES(len(model.blocks)).items():
        if module_name in mine and cache_name in cache:
            differences[module_name] = (mine[module_name] - cache[cache_name].to(mine[module_name].device)).abs().max().item()
    differences["logits"] = (logits - tl_logits.to(logits.device)).abs().max().item()
    return differences


@torch.no_grad()
def to_tl_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The learner-layout ``model`` as a TransformerLens-native ``state_dict`` (the inverse of :func:`load_tl_weights`).

    TransformerLens stores each projection as one linear layer over all heads:
    ``q.weight`` is [n_heads * d_head, d_model] with the head index varying slowest.
    """
    import einops

    state: dict[str, Tensor] = {
        "embed.weight": model.embed.W_E,
        "pos_embed.weight": model.pos_embed.W_pos,
        "ln_final.weight": model.ln_final.w,
        "ln_final.bias": model.ln_final.b,
        "unembed.weight": model.unembed.W_U.T,
        "unembed.bias": model.unembed.b_U,
    }
    for layer, block in enumerate(model.blocks):
        p = f"blocks.{layer}"
        attn, mlp = block.attn, block.mlp
        for letter, weight, bias in (("q", attn.W_Q, attn.b_Q), ("k", attn.W_K, attn.b_K), ("v", attn.W_V, attn.b_V)):
            state[f"{p}.attn.{letter}.weight"] = einops.rearrange(weight, "h d dh -> (h dh) d")
            state[f"{p}.attn.{letter}.bias"] = einops.rearrange(bias, "h dh -> (h dh)")
        state[f"{p}.attn.o.weight"] = einops.rearrange(attn.W_O, "h dh d -> d (h dh)")
        state[f"{p}.attn.o.bias"] = attn.b_O
        state[f"{p}.mlp.in.weight"], state[f"{p}.mlp.in.bias"] = mlp.W_in.T, mlp.b_in
        state[f"{p}.mlp.out.weight"], state[f"{p}.mlp.out.bias"] = mlp.W_out.T, mlp.b_out
        for ln in ("ln1", "ln2"):
            norm = getattr(block, ln)
            state[f"{p}.{ln}.weight"], state[f"{p}.{ln}.bias"] = norm.w, norm.b
    return {k: v.detach().clone().contiguous() for k, v in state.items()}
