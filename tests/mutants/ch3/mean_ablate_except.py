"""Mutants and alternatives for ch3.mean_ablate_except."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _run(model, tokens, ablate_head, means):
    def hook(z, hook):
        layer = hook.layer()
        for head in range(model.cfg.n_heads):
            if ablate_head(layer, head):
                z[:, :, head] = means[layer][:, head]
        return z
    names = {f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)}
    return model.run_with_hooks(tokens, fwd_hooks=[(lambda n: n in names, hook)])


@mutant(hint="ablated the circuit and kept everything else")
def inverted(model, tokens, circuit, means):
    keep = {tuple(h) for h in circuit}
    return _run(model, tokens, lambda l, h: (l, h) in keep, means)


@mutant(hint="set the ablated heads to zero")
def zero_ablation(model, tokens, circuit, means):
    keep = {tuple(h) for h in circuit}
    return _run(model, tokens, lambda l, h: (l, h) not in keep, torch.zeros_like(means))


@mutant(hint="averaged over positions")
def position_averaged(model, tokens, circuit, means):
    keep = {tuple(h) for h in circuit}
    flat = means.mean(1, keepdim=True).expand_as(means)
    return _run(model, tokens, lambda l, h: (l, h) not in keep, flat)


@mutant(hint="hooks piling up")
def hooks_pile_up(model, tokens, circuit, means):
    keep = {tuple(h) for h in circuit}
    for layer in range(model.cfg.n_layers):
        def hook(z, hook, layer=layer):
            for head in range(model.cfg.n_heads):
                if (layer, head) not in keep:
                    z[:, :, head] = means[layer][:, head]
            return z
        model.add_hook(f"blocks.{layer}.attn.hook_z", hook)
    return model(tokens)


@alternative
def with_mask(model, tokens, circuit, means):
    keep_mask = torch.zeros(model.cfg.n_layers, model.cfg.n_heads, dtype=torch.bool)
    for layer, head in circuit:
        keep_mask[layer, head] = True
    hooks = []
    for layer in range(model.cfg.n_layers):
        def hook(z, hook, layer=layer):
            keep = keep_mask[layer].view(1, 1, -1, 1)
            return torch.where(keep, z, means[layer].unsqueeze(0))
        hooks.append((f"blocks.{layer}.attn.hook_z", hook))
    return model.run_with_hooks(tokens, fwd_hooks=hooks)


_keep_masks: dict = {}


@mutant(hint="ablated the first call's circuit")
def head_mask_built_once(model, tokens, circuit, means):
    # The mask of kept heads built on the first call and kept per model: later circuits are ignored.
    if id(model) not in _keep_masks:
        mask = torch.zeros(model.cfg.n_layers, model.cfg.n_heads, dtype=torch.bool)
        for layer, head in circuit:
            mask[layer, head] = True
        _keep_masks[id(model)] = mask
    keep = _keep_masks[id(model)]
    return _run(model, tokens, lambda l, h: not bool(keep[l, h]), means)
