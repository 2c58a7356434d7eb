"""Mutants and alternatives for ch3.path_patch_to_final."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, freeze=True, sender_source=None):
    sender_source = sender_source or corrupt_cache
    names = {f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)}
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            def hook(z, hook, layer=layer, head=head):
                new = clean_cache[hook.name].clone() if freeze else z
                if hook.layer() == layer:
                    new[:, :, head] = sender_source[hook.name][:, :, head]
                return new
            logits = model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in names, hook)])
            out[layer, head] = metric(logits).item()
    return out


@mutant(hint="lets the effect flow through other heads")
def other_heads_free(model, clean_tokens, clean_cache, corrupt_cache, metric):
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, freeze=False)


@mutant(hint="Every entry is 1")
def sender_from_clean(model, clean_tokens, clean_cache, corrupt_cache, metric):
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, sender_source=clean_cache)


@mutant(hint="hooks piling up")
def hooks_pile_up(model, clean_tokens, clean_cache, corrupt_cache, metric):
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            for l in range(model.cfg.n_layers):
                def hook(z, hook, layer=layer, head=head):
                    new = clean_cache[hook.name].clone()
                    if hook.layer() == layer:
                        new[:, :, head] = corrupt_cache[hook.name][:, :, head]
                    return new
                model.add_hook(f"blocks.{l}.attn.hook_z", hook)
            out[layer, head] = metric(model(clean_tokens)).item()
    return out


def _sender_positions(model, clean_tokens, clean_cache, corrupt_cache, metric, positions):
    names = {f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)}
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            def hook(z, hook, layer=layer, head=head):
                new = clean_cache[hook.name].clone()
                if hook.layer() == layer:
                    new[:, positions, head] = corrupt_cache[hook.name][:, positions, head]
                return new
            logits = model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in names, hook)])
            out[layer, head] = metric(logits).item()
    return out


@mutant(hint="entries differ")
def misses_the_last_position(model, clean_tokens, clean_cache, corrupt_cache, metric):
    # An off-by-one slice: the sender is corrupted everywhere except at position -1, which is the end of the
    # longest prompts only (the others are right-padded there).
    return _sender_positions(model, clean_tokens, clean_cache, corrupt_cache, metric, slice(None, -1))


@alternative
def one_hook_per_layer(model, clean_tokens, clean_cache, corrupt_cache, metric):
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            hooks = []
            for l in range(model.cfg.n_layers):
                name = f"blocks.{l}.attn.hook_z"
                frozen = clean_cache[name].clone()
                if l == layer:
                    frozen[:, :, head] = corrupt_cache[name][:, :, head]
                hooks.append((name, lambda z, hook, frozen=frozen: frozen))
            out[layer, head] = metric(model.run_with_hooks(clean_tokens, fwd_hooks=hooks)).item()
    return out


@mutant(hint="wrote into clean_cache")
def pins_with_the_cached_tensor(model, clean_tokens, clean_cache, corrupt_cache, metric):
    # `new = clean_cache[hook.name]` without .clone(): each sender's corrupted output stays in the cache.
    names = {f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)}
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            def hook(z, hook, layer=layer, head=head):
                new = clean_cache[hook.name]
                if hook.layer() == layer:
                    new[:, :, head] = corrupt_cache[hook.name][:, :, head]
                return new
            out[layer, head] = metric(model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in names, hook)])).item()
    return out


_frozen_by_model: dict = {}


@mutant(hint="on a second call on the same model, with other prompts (the first call was right) differs")
def frozen_heads_kept_between_calls(model, clean_tokens, clean_cache, corrupt_cache, metric):
    # The pinned clean outputs saved once per model: the next call pins every head to the old prompts' outputs.
    key = id(model)
    if key not in _frozen_by_model:
        _frozen_by_model[key] = ({name: t.clone() for name, t in clean_cache.items() if name.endswith("hook_z")},
                                 {name: t.clone() for name, t in corrupt_cache.items() if name.endswith("hook_z")},
                                 clean_tokens.clone())
    clean_z, corrupt_z, tokens = _frozen_by_model[key]
    return _grid(model, tokens, clean_z, corrupt_z, metric)


@mutant(hint="should be a torch.Tensor, but it is a list")
def list_of_rows(model, clean_tokens, clean_cache, corrupt_cache, metric):
    return list(_grid(model, clean_tokens, clean_cache, corrupt_cache, metric))
