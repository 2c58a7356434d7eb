"""Mutants and alternatives for ch3.path_patch_at_positions."""
import torch

from circuitlab.grading.meta import alternative, mutant


def _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos, receiver_pos,
          sender_index=None, receiver_index=None, freeze=True, hook_component=None, rest_from_clean=False):
    """Path patching between positions, written the way a learner would, with the index expressions replaceable:
    ``sender_index(rows, sender_pos, receiver_pos)`` and ``receiver_index(...)`` give the (rows, positions) pair
    that x[rows, positions, head] patches."""
    rows = torch.arange(clean_tokens.shape[0])
    own = lambda rows, mine, other: (rows, mine)
    sender_index = sender_index or own
    receiver_index = receiver_index or own
    hook_component = hook_component or component
    names = {f"blocks.{l}.attn.hook_{hook_component}" for l, _ in receivers}
    z_names = {f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)}
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    s_rows, s_pos = sender_index(rows, sender_pos, receiver_pos)
    r_rows, r_pos = receiver_index(rows, receiver_pos, sender_pos)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            seen = {}

            def sender(z, hook, layer=layer, head=head):
                new = clean_cache[hook.name].clone() if freeze else z
                if hook.layer() == layer:
                    new[s_rows, s_pos, head] = corrupt_cache[hook.name][s_rows, s_pos, head]
                return new

            def record(act, hook):
                seen[hook.name] = act.detach().clone()

            model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in z_names, sender),
                                                          (lambda n: n in names, record)])

            def patch(act, hook):
                if rest_from_clean:
                    act = clean_cache[hook.name].clone()
                for r_layer, r_head in receivers:
                    if r_layer == hook.layer():
                        act[r_rows, r_pos, r_head] = seen[hook.name][r_rows, r_pos, r_head]
                return act

            logits = model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in names, patch)])
            out[layer, head] = metric(logits).item()
    return out


_every = lambda rows, mine, other: (slice(None), slice(None))


@mutant(hint="You patched at every position")
def every_position(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                   receiver_pos):
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                 receiver_pos, sender_index=_every, receiver_index=_every)


@mutant(hint="corrupted the sender away from sender_pos (at every position")
def sender_at_every_position(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component,
                             sender_pos, receiver_pos):
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                 receiver_pos, sender_index=_every)


@mutant(hint="away from receiver_pos")
def receivers_at_every_position(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component,
                                sender_pos, receiver_pos):
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                 receiver_pos, receiver_index=_every)


@mutant(hint="at the sender's position")
def receivers_at_the_sender_position(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component,
                                     sender_pos, receiver_pos):
    # One position tensor for both runs: the receivers are patched where the sender was corrupted.
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                 receiver_pos, receiver_index=lambda rows, mine, other: (rows, other))


@mutant(hint="corrupted the sender away from sender_pos")
def sender_at_the_receiver_position(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component,
                                    sender_pos, receiver_pos):
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                 receiver_pos, sender_index=lambda rows, mine, other: (rows, other))


@mutant(hint="one position for the whole batch")
def first_prompts_positions(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component,
                            sender_pos, receiver_pos):
    first = lambda rows, mine, other: (slice(None), int(mine[0]))
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                 receiver_pos, sender_index=first, receiver_index=first)


@mutant(hint="x[:, positions] takes all of them")
def colon_with_a_position_tensor(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component,
                                 sender_pos, receiver_pos):
    outer = lambda rows, mine, other: (slice(None), mine)
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                 receiver_pos, sender_index=outer, receiver_index=outer)


@mutant(hint="lets the effect flow through other heads")
def other_heads_free(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                     receiver_pos):
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                 receiver_pos, freeze=False)


@mutant(hint="You patched hook_")
def always_queries(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                   receiver_pos):
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                 receiver_pos, hook_component="k" if component == "q" else "q")


@mutant(hint="from the clean cache")
def receiver_layer_from_the_clean_cache(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component,
                                        sender_pos, receiver_pos):
    # "Every other position keeps its clean value", read as the clean cache's: a later receiver layer then cannot
    # react to an earlier receiver's patch.
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                 receiver_pos, rest_from_clean=True)


@mutant(hint="train mode")
def leaves_train_mode(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                      receiver_pos):
    out = _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                receiver_pos)
    model.train()
    return out


@mutant(hint="hooks piling up")
def hooks_pile_up(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                  receiver_pos):
    out = _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                receiver_pos)
    model.add_hook(f"blocks.{receivers[0][0]}.attn.hook_{component}", lambda act, hook: act)
    return out


@mutant(hint="wrote into clean_cache")
def pins_with_the_cached_tensor(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component,
                                sender_pos, receiver_pos):
    # `new = clean_cache[hook.name]` without .clone(): the sender's corrupted output is written into the cache.
    rows = torch.arange(clean_tokens.shape[0])
    names = {f"blocks.{l}.attn.hook_{component}" for l, _ in receivers}
    z_names = {f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)}
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            seen = {}

            def sender(z, hook, layer=layer, head=head):
                new = clean_cache[hook.name]
                if hook.layer() == layer:
                    new[rows, sender_pos, head] = corrupt_cache[hook.name][rows, sender_pos, head]
                return new

            model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in z_names, sender),
                                                          (lambda n: n in names, lambda a, hook: seen.__setitem__(hook.name, a.clone()))])

            def patch(act, hook):
                for r_layer, r_head in receivers:
                    if r_layer == hook.layer():
                        act[rows, receiver_pos, r_head] = seen[hook.name][rows, receiver_pos, r_head]
                return act

            out[layer, head] = metric(model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda n: n in names, patch)])).item()
    return out


_kept: dict = {}


@mutant(hint="returned the first call's values again")
def grid_kept_per_receivers(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                            receiver_pos):
    # Kept by model, receivers and component, but not by prompts: other prompts get the first grid back.
    key = (id(model), tuple(map(tuple, receivers)), component)
    if key not in _kept:
        _kept[key] = _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                           receiver_pos)
    return _kept[key].clone()


@mutant(hint="dtype torch.int64")
def integer_grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                 receiver_pos):
    return _grid(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                 receiver_pos).long()


@alternative
def one_prompt_at_a_time(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                         receiver_pos):
    # Each prompt alone, with plain integer positions; the metric is taken on the prompts' logits put back together.
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            logits = []
            for i in range(clean_tokens.shape[0]):
                s, r = int(sender_pos[i]), int(receiver_pos[i])
                hooks = []
                for l in range(model.cfg.n_layers):
                    name = f"blocks.{l}.attn.hook_z"
                    frozen = clean_cache[name][i:i + 1].clone()
                    if l == layer:
                        frozen[0, s, head] = corrupt_cache[name][i, s, head]
                    hooks.append((name, lambda z, hook, frozen=frozen: frozen))
                recorded = {}
                for l in {l for l, _ in receivers}:
                    hooks.append((f"blocks.{l}.attn.hook_{component}",
                                  lambda a, hook: recorded.__setitem__(hook.name, a[0, r].clone())))
                model.run_with_hooks(clean_tokens[i:i + 1], fwd_hooks=hooks)
                patches = []
                for r_layer, r_head in receivers:
                    def patch(act, hook, r_head=r_head):
                        act[0, r, r_head] = recorded[hook.name][r_head]
                        return act
                    patches.append((f"blocks.{r_layer}.attn.hook_{component}", patch))
                logits.append(model.run_with_hooks(clean_tokens[i:i + 1], fwd_hooks=patches))
            out[layer, head] = metric(torch.cat(logits)).item()
    return out


@alternative
def masks_for_both_runs(model, clean_tokens, clean_cache, corrupt_cache, metric, receivers, component, sender_pos,
                        receiver_pos):
    # One-hot masks over positions instead of indexing, and a per-layer list of receiver heads.
    seq = clean_tokens.shape[1]
    sender_mask = torch.nn.functional.one_hot(sender_pos, seq).bool()[:, :, None]  # [batch, pos, 1]
    receiver_mask = torch.nn.functional.one_hot(receiver_pos, seq).bool()[:, :, None]
    heads_in = {}
    for l, h in receivers:
        heads_in.setdefault(l, []).append(h)
    component_names = [f"blocks.{l}.attn.hook_{component}" for l in heads_in]
    z_names = [f"blocks.{l}.attn.hook_z" for l in range(model.cfg.n_layers)]
    out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            def pin(z, hook):
                frozen = clean_cache[hook.name].clone()
                if hook.layer() == layer:
                    frozen[:, :, head] = torch.where(sender_mask, corrupt_cache[hook.name][:, :, head], frozen[:, :, head])
                return frozen

            recorded = {}
            model.run_with_hooks(clean_tokens, fwd_hooks=[(name, pin) for name in z_names] + [
                (name, lambda a, hook: recorded.__setitem__(hook.name, a.clone())) for name in component_names])

            def patch(act, hook):
                for h in heads_in[hook.layer()]:
                    act[:, :, h] = torch.where(receiver_mask, recorded[hook.name][:, :, h], act[:, :, h])
                return act

            logits = model.run_with_hooks(clean_tokens, fwd_hooks=[(name, patch) for name in component_names])
            out[layer, head] = metric(logits).item()
    return out
