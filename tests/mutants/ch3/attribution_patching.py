"""Mutants and alternatives for ch3.attribution_patching."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _attribute(model, run_tokens, other_tokens, metric, sign=1.0, position_mean=False, detach_each_layer=False):
    """(other - run) . d metric / d z at ``run``; ``detach_each_layer`` cuts the paths through later heads."""
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, other = model.run_with_cache(other_tokens, names_filter=lambda n: n in names)
    kept = {}

    def keep(z, hook):
        z = z.detach().clone() if detach_each_layer else z.clone()
        if not z.requires_grad:
            z.requires_grad_(True)
        kept[hook.name] = z
        return z

    with torch.enable_grad():
        value = metric(model.run_with_hooks(run_tokens, fwd_hooks=[(lambda n: n in names, keep)]))
        grads = torch.autograd.grad(value, [kept[n] for n in names])
    rows = []
    for name, grad in zip(names, grads):
        product = sign * (other[name] - kept[name].detach()) * grad
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


@mutant(hint="detached")
def detached_leaf_per_layer(model, clean_tokens, corrupt_tokens, metric):
    # Every layer's z swapped for a detached leaf at once: only the direct path to the logits is differentiated.
    return _attribute(model, corrupt_tokens, clean_tokens, metric, detach_each_layer=True)


@alternative
def with_backward_hooks(model, clean_tokens, corrupt_tokens, metric):
    """The usual recipe: cache z on the forward pass and its gradient on the backward pass."""
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, clean = model.run_with_cache(clean_tokens, names_filter=lambda n: n in names)
    corrupt, grads = {}, {}

    def save_forward(z, hook):
        corrupt[hook.name] = z.detach()

    def save_backward(grad, hook):
        grads[hook.name] = grad.detach()

    model.reset_hooks()
    for name in names:
        model.add_hook(name, save_forward, "fwd")
        model.add_hook(name, save_backward, "bwd")
    try:
        with torch.enable_grad():
            metric(model(corrupt_tokens)).backward()
    finally:
        model.reset_hooks()
        model.zero_grad(set_to_none=True)
    return torch.stack([((clean[n] - corrupt[n]) * grads[n]).sum(dim=(0, 1, 3)) for n in names])


@alternative
def with_retain_grad(model, clean_tokens, corrupt_tokens, metric):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, clean = model.run_with_cache(clean_tokens, names_filter=lambda n: n in names)
    kept = {}

    def keep(z, hook):
        z = z.clone()
        if not z.requires_grad:
            z.requires_grad_(True)
        else:
            z.retain_grad()
        kept[hook.name] = z
        return z

    with torch.enable_grad():
        metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(n, keep) for n in names])).backward()
    model.zero_grad(set_to_none=True)
    return torch.stack([((clean[n] - kept[n].detach()) * kept[n].grad).sum(dim=(0, 1, 3)) for n in names])


@mutant(hint="hooks piling up")
def leaves_backward_hooks(model, clean_tokens, corrupt_tokens, metric):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, clean = model.run_with_cache(clean_tokens, names_filter=lambda n: n in names)
    corrupt, grads = {}, {}
    for name in names:
        model.add_hook(name, lambda z, hook: corrupt.__setitem__(hook.name, z.detach()), "fwd")
        model.add_hook(name, lambda g, hook: grads.__setitem__(hook.name, g.detach()), "bwd")
    with torch.enable_grad():
        metric(model(corrupt_tokens)).backward()
    return torch.stack([((clean[n] - corrupt[n]) * grads[n]).sum(dim=(0, 1, 3)) for n in names])


@mutant(hint="requires_grad=False")
def forgets_enable_grad(model, clean_tokens, corrupt_tokens, metric):
    # Works where gradients are on, fails in the notebook, which switches them off at the top.
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    _, clean = model.run_with_cache(clean_tokens, names_filter=lambda n: n in names)
    kept = {}

    def keep(z, hook):
        kept[hook.name] = z
        z.retain_grad()
        return z

    metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(n, keep) for n in names])).backward()
    model.zero_grad(set_to_none=True)
    return torch.stack([((clean[n] - kept[n].detach()) * kept[n].grad).sum(dim=(0, 1, 3)) for n in names])


@mutant(hint="switched gradients on and left them on")
def grad_mode_switched_on_for_good(model, clean_tokens, corrupt_tokens, metric):
    torch.set_grad_enabled(True)
    return with_retain_grad(model, clean_tokens, corrupt_tokens, metric)


@mutant(hint="left gradients in the model's parameters")
def parameter_gradients_left(model, clean_tokens, corrupt_tokens, metric):
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, clean = model.run_with_cache(clean_tokens, names_filter=lambda n: n in names)
    kept = {}

    def keep(z, hook):
        z = z.clone()
        z.retain_grad()
        kept[hook.name] = z
        return z

    with torch.enable_grad():
        metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(n, keep) for n in names])).backward()
    return torch.stack([((clean[n] - kept[n].detach()) * kept[n].grad).sum(dim=(0, 1, 3)) for n in names])


_clean_z_by_model: dict = {}


@mutant(hint="on a second call on the same model, with other prompts (the first call was right)")
def clean_run_kept_between_calls(model, clean_tokens, corrupt_tokens, metric):
    # The clean run cached per model: the next call subtracts the old prompts' z.
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    if id(model) not in _clean_z_by_model:
        with torch.no_grad():
            _, clean = model.run_with_cache(clean_tokens, names_filter=lambda n: n in names)
        _clean_z_by_model[id(model)] = {n: clean[n].clone() for n in names}
    clean = _clean_z_by_model[id(model)]
    kept = {}

    def keep(z, hook):
        z = z.clone()
        z.retain_grad()
        kept[hook.name] = z
        return z

    with torch.enable_grad():
        metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(n, keep) for n in names])).backward()
    model.zero_grad(set_to_none=True)
    return torch.stack([((clean[n] - kept[n].detach()) * kept[n].grad).sum(dim=(0, 1, 3)) for n in names])


@alternative
def with_autograd_grad_and_zeroed_parameters(model, clean_tokens, corrupt_tokens, metric):
    """backward() into the parameters too, then zero_grad(set_to_none=False): zero gradients are fine."""
    names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    with torch.no_grad():
        _, clean = model.run_with_cache(clean_tokens, names_filter=lambda n: n in names)
    kept = {}

    def keep(z, hook):
        z = z.clone()
        z.retain_grad()
        kept[hook.name] = z
        return z

    with torch.enable_grad():
        metric(model.run_with_hooks(corrupt_tokens, fwd_hooks=[(n, keep) for n in names])).backward()
    model.zero_grad(set_to_none=False)
    return torch.stack([((clean[n] - kept[n].detach()) * kept[n].grad).sum(dim=(0, 1, 3)) for n in names])
