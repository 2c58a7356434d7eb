"""Mutants and alternatives for ch3.patch_head_pattern."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _grid(model, tokens, clean_cache, metric, write, persistent=False):
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_pattern"
        for head in range(model.cfg.n_heads):
            def hook(pattern, hook, head=head):
                return write(pattern, clean_cache[hook.name], head)
            if persistent:
                model.add_hook(name, hook)
                logits = model(tokens)
            else:
                logits = model.run_with_hooks(tokens, fwd_hooks=[(name, hook)])
            out[layer, head] = metric(logits).item()
    return out


def _right(pattern, clean, head):
    pattern[:, head] = clean[:, head]
    return pattern


@mutant(hint="wrong axis")
def head_axis_third(model, corrupt_tokens, clean_cache, metric):
    def wrong(pattern, clean, head):
        pattern[:, :, head] = clean[:, :, head]
        return pattern
    return _grid(model, corrupt_tokens, clean_cache, metric, wrong)


@mutant(hint="hooks piling up")
def hooks_pile_up(model, corrupt_tokens, clean_cache, metric):
    return _grid(model, corrupt_tokens, clean_cache, metric, _right, persistent=True)


@mutant(hint="clean activations into the clean run")
def clean_into_clean(model, corrupt_tokens, clean_cache, metric):
    # Overwriting the whole residual stream with the clean one turns every run into the clean run.
    def as_clean(resid, hook):
        return clean_cache[hook.name].clone()
    shape = (model.cfg.n_layers, model.cfg.n_heads)
    out = torch.zeros(shape)
    for index in range(out.numel()):
        logits = model.run_with_hooks(corrupt_tokens, fwd_hooks=[("blocks.0.hook_resid_pre", as_clean)])
        out.view(-1)[index] = metric(logits).item()
    return out


@alternative
def with_where(model, corrupt_tokens, clean_cache, metric):
    def swap(pattern, clean, head):
        chosen = torch.arange(pattern.shape[1]).view(1, -1, 1, 1) == head
        return torch.where(chosen, clean, pattern)
    return _grid(model, corrupt_tokens, clean_cache, metric, swap)


@mutant(hint="should be a torch.Tensor, but it is a ndarray")
def numpy_grid(model, corrupt_tokens, clean_cache, metric):
    return _grid(model, corrupt_tokens, clean_cache, metric, _right).numpy()


_patterns_by_layer: dict = {}


@mutant(hint="on a second call on the same model, with other prompts (the first call was right) raised")
def clean_patterns_kept_between_calls(model, corrupt_tokens, clean_cache, metric):
    # The clean patterns saved once per model "to save time": the next call patches in the old prompts' patterns.
    for layer in range(model.cfg.n_layers):
        key = (id(model), layer)
        if key not in _patterns_by_layer:
            _patterns_by_layer[key] = clean_cache[f"blocks.{layer}.attn.hook_pattern"].clone()
    kept = {f"blocks.{layer}.attn.hook_pattern": _patterns_by_layer[(id(model), layer)]
            for layer in range(model.cfg.n_layers)}
    return _grid(model, corrupt_tokens, kept, metric, _right)
