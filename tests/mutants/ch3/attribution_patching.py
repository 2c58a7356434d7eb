"""Mutants and alternatives for ch3.attribution_patching."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _attribute(model, run_tokens, other_tokens, metric, sign=1.0, position_mean=False):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, other = model.run_with_cache(other_tokens, names_filter=lambda n: n in names)
    leaves = {}

    def leaf(z, hook):
        leaves[hook.name] = z.detach().clone().requires_grad_(True)
        return leaves[hook.name]

    with torch.enable_grad():
        value = metric(model.run_with_hooks(run_tokens, fwd_hooks=[(lambda n: n in names, leaf)]))
        grads = torch.autograd.grad(value, [leaves[n] for n in names])
    rows = []
    for name, grad in zip(names, grads):
        product = sign * (other[name] - leaves[name].detach()) * grad
        if position_mean:
            product = product.mean(dim=1, keepdim=True)
        rows.append(product.sum(dim=(0, 1, 3)))
    return torch.stack(rows)


@mutant(hint="opposite sign")
def reversed_difference(model, clean_tokens, corrupt_tokens, metric):
    return _attribute(model, corrupt_tokens, clean_tokens, metric, sign=-1.0)


@mutant(hint="gradient at the clean run")
def gradient_at_clean(model, clean_tokens, corrupt_tokens, metric):
    return -_attribute(model, clean_tokens, corrupt_tokens, metric)


@mutant(hint="Sum (z_clean - z_corrupt) * grad over batch, positions")
def averaged_over_positions(model, clean_tokens, corrupt_tokens, metric):
    return _attribute(model, corrupt_tokens, clean_tokens, metric, position_mean=True)


@alternative
def with_retain_grad(model, clean_tokens, corrupt_tokens, metric):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, clean = model.run_with_cache(clean_tokens, names_filter=lambda n: n in names)
    kept = {}

    def keep(z, hook):
        z = z.detach().requires_grad_(True)
        kept[hook.name] = z
        return z

    with torch.enable_grad():
        metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(n, keep) for n in names])).backward()
    model.zero_grad(set_to_none=True)
    return torch.stack([((clean[n] - kept[n].detach()) * kept[n].grad).sum(dim=(0, 1, 3)) for n in names])
