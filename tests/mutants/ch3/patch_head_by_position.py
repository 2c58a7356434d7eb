"""Mutants and alternatives for ch3.patch_head_by_position."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _grid(model, tokens, source, metric, where, persistent=False):
    """(layer, head, pos) grid; the run for ``pos`` patches the positions ``where(pos)`` of one head."""
    seq = tokens.shape[1]
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads, seq)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(model.cfg.n_heads):
            for pos in range(seq):
                def hook(z, hook, head=head, chosen=where(pos)):
                    z[:, chosen, head] = source[hook.name][:, chosen, head]
                    return z
                if persistent:
                    model.add_hook(name, hook)
                    logits = model(tokens)
                else:
                    logits = model.run_with_hooks(tokens, fwd_hooks=[(name, hook)])
                out[layer, head, pos] = metric(logits).item()
    return out


@mutant(hint="at every position at once")
def every_position_at_once(model, corrupt_tokens, clean_cache, metric):
    return _grid(model, corrupt_tokens, clean_cache, metric, lambda pos: slice(None))


@mutant(hint="every position up to pos")
def positions_up_to(model, corrupt_tokens, clean_cache, metric):
    return _grid(model, corrupt_tokens, clean_cache, metric, lambda pos: slice(0, pos + 1))


@mutant(hint="(layer, position, head)")
def transformer_lens_order(model, corrupt_tokens, clean_cache, metric):
    return _grid(model, corrupt_tokens, clean_cache, metric, lambda pos: pos).transpose(1, 2)


@mutant(hint="hooks piling up")
def hooks_pile_up(model, corrupt_tokens, clean_cache, metric):
    return _grid(model, corrupt_tokens, clean_cache, metric, lambda pos: pos, persistent=True)


@mutant(hint="clean activations into the clean run")
def clean_into_clean(model, corrupt_tokens, clean_cache, metric):
    def as_clean(resid, hook):
        return clean_cache[hook.name].clone()
    seq = corrupt_tokens.shape[1]
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads, seq)
    for index in range(out.numel()):
        logits = model.run_with_hooks(corrupt_tokens, fwd_hooks=[("blocks.0.hook_resid_pre", as_clean)])
        out.view(-1)[index] = metric(logits).item()
    return out


@mutant(hint="returned the first call's values again")
def memoised_by_model(model, corrupt_tokens, clean_cache, metric, _kept={}):
    if id(model) not in _kept:
        _kept[id(model)] = _grid(model, corrupt_tokens, clean_cache, metric, lambda pos: pos)
    return _kept[id(model)].clone()


@alternative
def with_transformer_lens(model, corrupt_tokens, clean_cache, metric):
    from transformer_lens import patching

    grid = patching.get_act_patch_attn_head_out_by_pos(model, corrupt_tokens, clean_cache, metric)  # [layer, pos, head]
    return grid.transpose(1, 2).float().cpu()


@alternative
def with_a_mask(model, corrupt_tokens, clean_cache, metric):
    seq = corrupt_tokens.shape[1]
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads, seq)
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(model.cfg.n_heads):
            for pos in range(seq):
                mask = torch.zeros(seq, model.cfg.n_heads, 1)
                mask[pos, head] = 1.0
                def hook(z, hook, mask=mask):
                    return z * (1 - mask) + clean_cache[hook.name] * mask
                out[layer, head, pos] = metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(name, hook)])).item()
    return out
