"""Mutants and alternatives for ch3.patch_head_output."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _grid(model, tokens, source, metric, positions, persistent=False):
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(model.cfg.n_heads):
            def hook(z, hook, head=head):
                z[:, positions, head] = source[hook.name][:, positions, head]
                return z
            if persistent:
                model.add_hook(name, hook)
                logits = model(tokens)
            else:
                logits = model.run_with_hooks(tokens, fwd_hooks=[(name, hook)])
            out[layer, head] = metric(logits).item()
    return out


@mutant(hint="only the last one")
def end_position_only(model, corrupt_tokens, clean_cache, metric):
    return _grid(model, corrupt_tokens, clean_cache, metric, [-1])


@mutant(hint="hooks piling up")
def hooks_pile_up(model, corrupt_tokens, clean_cache, metric):
    return _grid(model, corrupt_tokens, clean_cache, metric, slice(None), persistent=True)


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


@mutant(hint="hook_z is (batch, pos, head, d_head)")
def head_on_position_axis(model, corrupt_tokens, clean_cache, metric):
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(model.cfg.n_heads):
            def hook(z, hook, head=head):
                z[:, head] = clean_cache[hook.name][:, head]
                return z
            out[layer, head] = metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(name, hook)])).item()
    return out


@alternative
def with_einops_mask(model, corrupt_tokens, clean_cache, metric):
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(model.cfg.n_heads):
            mask = torch.zeros(model.cfg.n_heads, 1)
            mask[head] = 1.0
            def hook(z, hook, mask=mask):
                return z * (1 - mask) + clean_cache[hook.name] * mask
            out[layer, head] = metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(name, hook)])).item()
    return out


@mutant(hint="5 heads")
def four_heads_hard_coded(model, corrupt_tokens, clean_cache, metric):
    out = torch.zeros(model.cfg.n_layers, 4)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(4):
            def hook(z, hook, head=head):
                z[:, :, head] = clean_cache[hook.name][:, :, head]
                return z
            out[layer, head] = metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(name, hook)])).item()
    return out


@mutant(hint="changed the model's weights")
def zeroes_the_output_weights(model, corrupt_tokens, clean_cache, metric):
    # Patches by editing W_O, then forgets to put it back.
    out = _grid(model, corrupt_tokens, clean_cache, metric, slice(None))
    with torch.no_grad():
        model.blocks[0].attn.W_O.mul_(0.0)
    return out


@mutant(hint="should be a torch.Tensor, but it is a list")
def nested_list(model, corrupt_tokens, clean_cache, metric):
    return _grid(model, corrupt_tokens, clean_cache, metric, slice(None)).tolist()


_scores_by_model: dict = {}


@mutant(hint="returned the first call's values again")
def memoised_by_model(model, corrupt_tokens, clean_cache, metric):
    # "Patching is slow, keep the grid": the key forgets the prompts, so other prompts get the old grid.
    if id(model) not in _scores_by_model:
        _scores_by_model[id(model)] = _grid(model, corrupt_tokens, clean_cache, metric, slice(None))
    return _scores_by_model[id(model)].clone()


_shared_grids: dict = {}


@mutant(hint="both calls fill the same tensor")
def fills_a_shared_tensor(model, corrupt_tokens, clean_cache, metric):
    grid = _shared_grids.setdefault((model.cfg.n_layers, model.cfg.n_heads),
                                    torch.zeros(model.cfg.n_layers, model.cfg.n_heads))
    grid[:] = _grid(model, corrupt_tokens, clean_cache, metric, slice(None))
    return grid


@mutant(hint="has dtype torch.int64")
def integer_grid(model, corrupt_tokens, clean_cache, metric):
    # torch.zeros(..., dtype=torch.long) (or torch.zeros_like of the tokens) truncates every metric value.
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads, dtype=torch.long)
    out[:] = _grid(model, corrupt_tokens, clean_cache, metric, slice(None))
    return out


@alternative
def float64_grid(model, corrupt_tokens, clean_cache, metric):
    return _grid(model, corrupt_tokens, clean_cache, metric, slice(None)).double()
