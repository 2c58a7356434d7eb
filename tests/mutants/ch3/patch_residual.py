"""Mutants and alternatives for ch3.patch_residual."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _grid(model, run_tokens, clean_cache, metric, hook_name, write):
    out = torch.zeros(model.cfg.n_layers, run_tokens.shape[1])
    for layer in range(model.cfg.n_layers):
        name = hook_name.format(layer=layer)
        for pos in range(run_tokens.shape[1]):
            def hook(resid, hook, pos=pos):
                return write(resid, clean_cache[hook.name], pos)
            out[layer, pos] = metric(model.run_with_hooks(run_tokens, fwd_hooks=[(name, hook)])).item()
    return out


def _one_position(resid, clean, pos):
    resid[:, pos] = clean[:, pos]
    return resid


@mutant(hint="clean activations into the clean run")
def clean_into_clean(model, corrupt_tokens, clean_cache, metric):
    # Overwriting the whole residual stream with the clean one turns every run into the clean run.
    def as_clean(resid, hook):
        return clean_cache[hook.name].clone()
    shape = (model.cfg.n_layers, corrupt_tokens.shape[1])
    out = torch.zeros(shape)
    for index in range(out.numel()):
        logits = model.run_with_hooks(corrupt_tokens, fwd_hooks=[("blocks.0.hook_resid_pre", as_clean)])
        out.view(-1)[index] = metric(logits).item()
    return out


@mutant(hint="Check the position you patch")
def patches_up_to_position(model, corrupt_tokens, clean_cache, metric):
    def up_to(resid, clean, pos):
        resid[:, : pos + 1] = clean[:, : pos + 1]
        return resid
    return _grid(model, corrupt_tokens, clean_cache, metric, "blocks.{layer}.hook_resid_pre", up_to)


@mutant(hint="hooks piling up")
def hooks_pile_up(model, corrupt_tokens, clean_cache, metric):
    out = torch.zeros(model.cfg.n_layers, corrupt_tokens.shape[1])
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.hook_resid_pre"
        for pos in range(corrupt_tokens.shape[1]):
            def hook(resid, hook, pos=pos):
                return _one_position(resid, clean_cache[hook.name], pos)
            model.add_hook(name, hook)  # never removed: every later run carries all earlier patches
            out[layer, pos] = metric(model(corrupt_tokens)).item()
    return out


@mutant(hint="hook_resid_post")
def patches_resid_post(model, corrupt_tokens, clean_cache, metric):
    return _grid(model, corrupt_tokens, clean_cache, metric, "blocks.{layer}.hook_resid_post", _one_position)


@alternative
def with_hooks_context(model, corrupt_tokens, clean_cache, metric):
    out = torch.zeros(model.cfg.n_layers, corrupt_tokens.shape[1])
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.hook_resid_pre"
        for pos in range(corrupt_tokens.shape[1]):
            def hook(resid, hook, pos=pos):
                patched = resid.clone()
                patched[:, pos] = clean_cache[name][:, pos]
                return patched
            with model.hooks(fwd_hooks=[(name, hook)]):
                out[layer, pos] = metric(model(corrupt_tokens)).item()
    return out


@mutant(hint="wrote into clean_cache")
def builds_on_the_cache(model, corrupt_tokens, clean_cache, metric):
    # Starts from the cached tensor itself (no clone) and copies the corrupted positions into it.
    def write(resid, clean, pos):
        others = [p for p in range(resid.shape[1]) if p != pos]
        clean[:, others] = resid[:, others]
        return clean
    return _grid(model, corrupt_tokens, clean_cache, metric, "blocks.{layer}.hook_resid_pre", write)


@mutant(hint="2-layer")
def four_layers_hard_coded(model, corrupt_tokens, clean_cache, metric):
    out = torch.zeros(4, corrupt_tokens.shape[1])
    for layer in range(4):
        name = f"blocks.{layer}.hook_resid_pre"
        for pos in range(corrupt_tokens.shape[1]):
            def hook(resid, hook, pos=pos):
                return _one_position(resid, clean_cache[hook.name], pos)
            out[layer, pos] = metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(name, hook)])).item()
    return out


@alternative
def with_a_tensor_of_scores(model, corrupt_tokens, clean_cache, metric):
    """Collects the metric values as 0-dim tensors and stacks them (no .item())."""
    scores = []
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.hook_resid_pre"
        for pos in range(corrupt_tokens.shape[1]):
            def hook(resid, hook, pos=pos):
                out = resid.clone()
                out[:, pos] = clean_cache[hook.name][:, pos]
                return out
            scores.append(metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(name, hook)])))
    return torch.stack(scores).reshape(model.cfg.n_layers, corrupt_tokens.shape[1])


_grids_by_shape: dict = {}


@mutant(hint="returned the first call's values again")
def grid_kept_by_shape(model, corrupt_tokens, clean_cache, metric):
    # Results kept by grid size "to skip recomputation": other prompts of the same length get the old grid.
    key = (model.cfg.n_layers, corrupt_tokens.shape[1])
    if key not in _grids_by_shape:
        _grids_by_shape[key] = _grid(model, corrupt_tokens, clean_cache, metric, "blocks.{layer}.hook_resid_pre",
                                     _one_position)
    return _grids_by_shape[key].clone()


@mutant(hint="should be a torch.Tensor, but it is a list")
def list_of_lists(model, corrupt_tokens, clean_cache, metric):
    return _grid(model, corrupt_tokens, clean_cache, metric, "blocks.{layer}.hook_resid_pre", _one_position).tolist()
