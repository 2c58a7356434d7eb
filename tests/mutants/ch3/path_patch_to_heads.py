"""Mutants and alternatives for ch3.path_patch_to_heads."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component,
          freeze=True, whole_layer=False, hook_component=None):
    hook_component = hook_component or component
    names = {f"blocks.{l}.attn.hook_{hook_component}" for l, _ in receivers}
    z_names = {f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)}
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            seen = {}

            def sender(z, hook, layer=layer, head=head):
                new = clean_cache[hook.name].clone() if freeze else z
                if hook.layer() == layer:
                    new[:, :, head] = corrupt_cache[hook.name][:, :, head]
                return new

            def record(act, hook):
                seen[hook.name] = act.detach().clone()

            model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in z_names, sender),
                                                          (lambda n: n in names, record)])

            def patch(act, hook):
                for r_layer, r_head in receivers:
                    if r_layer == hook.layer():
                        if whole_layer:
                            act = seen[hook.name].clone()
                        else:
                            act[:, :, r_head] = seen[hook.name][:, :, r_head]
                return act

            logits = model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in names, patch)])
            out[layer, head] = metric(logits).item()
    return out


@mutant(hint="lets the effect flow through other heads")
def other_heads_free(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component):
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, freeze=False)


@mutant(hint="You patched hook_")
def always_queries(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component):
    wrong = "k" if component == "q" else "q"
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, hook_component=wrong)


@mutant(hint="every head of the receiver layer")
def whole_receiver_layer(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component):
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, whole_layer=True)


@mutant(hint="hooks piling up")
def hooks_pile_up(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component):
    out = _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component)
    model.add_hook(f"blocks.{receivers[0][0]}.attn.hook_{component}", lambda act, hook: act)
    return out


@alternative
def one_run_per_layer_hooks(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component):
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            frozen_hooks = []
            for l in range(model.cfg.n_layers):
                name = f"blocks.{l}.attn.hook_z"
                frozen = clean_cache[name].clone()
                if l == layer:
                    frozen[:, :, head] = corrupt_cache[name][:, :, head]
                frozen_hooks.append((name, lambda z, hook, frozen=frozen: frozen))
            recorded = {}
            record_hooks = [(f"blocks.{l}.attn.hook_{component}", lambda a, hook: recorded.__setitem__(hook.name, a.clone()))
                            for l in {l for l, _ in receivers}]
            model.run_with_hooks(clean_tokens, fwd_hooks=frozen_hooks + record_hooks)
            patch_hooks = []
            for r_layer, r_head in receivers:
                name = f"blocks.{r_layer}.attn.hook_{component}"

                def patch(act, hook, r_head=r_head):
                    act[:, :, r_head] = recorded[hook.name][:, :, r_head]
                    return act
                patch_hooks.append((name, patch))
            out[layer, head] = metric(model.run_with_hooks(clean_tokens, fwd_hooks=patch_hooks)).item()
    return out


@mutant(hint="receivers can sit in several layers")
def only_the_last_receiver_layer(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component):
    last = max(layer for layer, _ in receivers)
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, [r for r in receivers if r[0] == last],
                 component)


@mutant(hint="In the second run you pinned the heads")
def pins_heads_in_the_second_run(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component):
    names = {f"blocks.{l}.attn.hook_{component}" for l, _ in receivers}
    z_names = {f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)}
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            seen = {}

            def sender(z, hook, layer=layer, head=head):
                new = clean_cache[hook.name].clone()
                if hook.layer() == layer:
                    new[:, :, head] = corrupt_cache[hook.name][:, :, head]
                return new

            model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in z_names, sender),
                                                          (lambda n: n in names, lambda a, hook: seen.__setitem__(hook.name, a.clone()))])

            def patch(act, hook):
                for r_layer, r_head in receivers:
                    if r_layer == hook.layer():
                        act[:, :, r_head] = seen[hook.name][:, :, r_head]
                return act

            pin = lambda z, hook: clean_cache[hook.name].clone()
            logits = model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in names, patch), (lambda n: n in z_names, pin)])
            out[layer, head] = metric(logits).item()
    return out


@mutant(hint="wrote into clean_cache")
def pins_with_the_cached_tensor(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component):
    # `new = clean_cache[hook.name]` without .clone(): the sender's corrupted output is written into the cache.
    names = {f"blocks.{l}.attn.hook_{component}" for l, _ in receivers}
    z_names = {f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)}
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            seen = {}

            def sender(z, hook, layer=layer, head=head):
                new = clean_cache[hook.name]
                if hook.layer() == layer:
                    new[:, :, head] = corrupt_cache[hook.name][:, :, head]
                return new

            model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in z_names, sender),
                                                          (lambda n: n in names, lambda a, hook: seen.__setitem__(hook.name, a.clone()))])

            def patch(act, hook):
                for r_layer, r_head in receivers:
                    if r_layer == hook.layer():
                        act[:, :, r_head] = seen[hook.name][:, :, r_head]
                return act

            out[layer, head] = metric(model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in names, patch)])).item()
    return out


_receiver_inputs: dict = {}


@mutant(hint="returned the first call's values again")
def grid_kept_per_receivers(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component):
    # Kept by model, receivers and component, but not by prompts: other prompts get the first grid back.
    key = (id(model), tuple(map(tuple, receivers)), component)
    if key not in _receiver_inputs:
        _receiver_inputs[key] = _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component)
    return _receiver_inputs[key].clone()


@mutant(hint="dtype torch.int64")
def integer_grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component):
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component).long()
