"""Reference solutions for chapter 3 (indirect object identification).

Conventions used throughout:
- ``model`` is a TransformerLens model (a ``TransformerBridge`` in compatibility mode), so
  the hook names are the classic ones: ``blocks.{l}.hook_resid_pre``, ``blocks.{l}.attn.hook_z``,
  ``blocks.{l}.attn.hook_pattern``, ``blocks.{l}.attn.hook_q`` ...
- prompts are right-padded, so each prompt's last real token sits at ``end_pos[i]``, not at -1;
- a ``metric`` is any function ``logits -> scalar tensor``; patching functions call it on the
  logits of each patched run and collect the results.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import einops
import torch
from jaxtyping import Float, Int
from torch import Tensor

Metric = Callable[[Tensor], Tensor]
Head = tuple[int, int]

__all__ = [
    "make_ioi_prompt",
    "single_token_names",
    "logit_diff",
    "normalised_logit_diff",
    "residual_to_logit_diff",
    "patch_residual",
    "patch_head_output",
    "patch_head_pattern",
    "patch_head_by_position",
    "freeze_heads_except",
    "path_patch_to_final",
    "path_patch_to_heads",
    "path_patch_at_positions",
    "mean_ablate_except",
    "attribution_patching",
]


# --------------------------------------------------------------------------- the dataset


def make_ioi_prompt(template: str, io: str, s: str, c: str, order: str, place: str, obj: str) -> tuple[str, str]:
    """The clean IOI prompt and its ABC-corrupted twin.

    ``template`` has the slots {A} and {B} (the first clause's two names, in order), {S}
    (the subject's second mention), {P} (a place) and {O} (an object). In ABBA order the
    first clause names IO first; in BABA order it names S first. The corrupted prompt is
    the clean one with the *second* mention of S replaced by the third name ``c``.
    """
    ### BEGIN SOLUTION
    first, second = (io, s) if order == "ABBA" else (s, io)
    clean = template.format(A=first, B=second, S=s, P=place, O=obj)
    corrupt = template.format(A=first, B=second, S=c, P=place, O=obj)
    return clean, corrupt
    ### END SOLUTION


def single_token_names(names: Iterable[str], tokenizer) -> list[str]:
    """The names that are one known token when they follow a space, as they do inside a sentence.

    A word-level tokenizer encodes every word it does not know as its one unknown token, which is
    no name's own token, so those names are left out too.
    """
    ### BEGIN SOLUTION
    unknown = tokenizer.unk_token_id  # None for a byte-level BPE tokenizer, which has no unknown token
    kept = []
    for name in names:
        ids = tokenizer.encode(" " + name, add_special_tokens=False)
        if len(ids) == 1 and ids[0] != unknown:
            kept.append(name)
    return kept
    ### END SOLUTION


# --------------------------------------------------------------------------- metrics


def logit_diff(
    logits: Float[Tensor, "batch seq vocab"],
    end_pos: Int[Tensor, "batch"],
    io_tokens: Int[Tensor, "batch"],
    s_tokens: Int[Tensor, "batch"],
    per_prompt: bool = False,
) -> Float[Tensor, ""] | Float[Tensor, "batch"]:
    """logit(IO) - logit(S) at each prompt's last real token; the mean unless ``per_prompt``."""
    ### BEGIN SOLUTION
    rows = torch.arange(logits.shape[0], device=logits.device)
    final_logits = logits[rows, end_pos]  # [batch, vocab]
    diffs = final_logits[rows, io_tokens] - final_logits[rows, s_tokens]
    return diffs if per_prompt else diffs.mean()
    ### END SOLUTION


def normalised_logit_diff(
    logits: Float[Tensor, "batch seq vocab"],
    end_pos: Int[Tensor, "batch"],
    io_tokens: Int[Tensor, "batch"],
    s_tokens: Int[Tensor, "batch"],
    clean_diff: float,
    corrupt_diff: float,
) -> Float[Tensor, ""]:
    """The logit difference rescaled so the corrupted run scores 0 and the clean run scores 1."""
    ### BEGIN SOLUTION
    diff = logit_diff(logits, end_pos, io_tokens, s_tokens)
    return (diff - corrupt_diff) / (clean_diff - corrupt_diff)
    ### END SOLUTION


def residual_to_logit_diff(
    stack: Float[Tensor, "component batch d_model"],
    cache,
    end_pos: Int[Tensor, "batch"],
    directions: Float[Tensor, "batch d_model"],
) -> Float[Tensor, "component"]:
    """Direct logit attribution: each residual component's contribution to IO - S.

    ``stack`` holds pieces of the residual stream at each prompt's end position. The final
    LayerNorm is (after compatibility mode) a centring and a division by a per-token scale;
    dividing by the scale the model really used at that token makes the pieces add up to
    the logit difference exactly.
    """
    ### BEGIN SOLUTION
    rows = torch.arange(stack.shape[1], device=stack.device)
    scale = cache["ln_final.hook_scale"][rows, end_pos]  # [batch, 1]
    centred = stack - stack.mean(dim=-1, keepdim=True)
    normalised = centred / scale
    per_prompt = einops.einsum(normalised, directions, "component batch d_model, batch d_model -> component batch")
    return per_prompt.mean(dim=-1)
    ### END SOLUTION


# --------------------------------------------------------------------------- activation patching


def patch_residual(model, corrupt_tokens: Int[Tensor, "batch seq"], clean_cache, metric: Metric) -> Float[Tensor, "layer pos"]:
    """Run the corrupted prompts with the clean residual stream patched in at one (layer, position)."""
    n_layers, seq = model.cfg.n_layers, corrupt_tokens.shape[1]
    results = torch.zeros(n_layers, seq)
    ### BEGIN SOLUTION
    for layer in range(n_layers):
        name = f"blocks.{layer}.hook_resid_pre"
        for pos in range(seq):
            def patch(resid: Tensor, hook, pos: int = pos) -> Tensor:
                resid[:, pos] = clean_cache[hook.name][:, pos]
                return resid

            logits = model.run_with_hooks(corrupt_tokens, fwd_hooks=[(name, patch)])
            results[layer, pos] = metric(logits).item()
    ### END SOLUTION
    return results


def patch_head_output(model, corrupt_tokens: Int[Tensor, "batch seq"], clean_cache, metric: Metric) -> Float[Tensor, "layer head"]:
    """Run the corrupted prompts with one head's clean output (hook_z, every position) patched in."""
    results = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    ### BEGIN SOLUTION
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(model.cfg.n_heads):
            def patch(z: Tensor, hook, head: int = head) -> Tensor:
                z[:, :, head] = clean_cache[hook.name][:, :, head]
                return z

            logits = model.run_with_hooks(corrupt_tokens, fwd_hooks=[(name, patch)])
            results[layer, head] = metric(logits).item()
    ### END SOLUTION
    return results


def patch_head_pattern(model, corrupt_tokens: Int[Tensor, "batch seq"], clean_cache, metric: Metric) -> Float[Tensor, "layer head"]:
    """Run the corrupted prompts with one head's clean attention pattern patched in."""
    results = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    ### BEGIN SOLUTION
    for layer in range(model.cfg.n_layers):
        name = f"blocks.{layer}.attn.hook_pattern"
        for head in range(model.cfg.n_heads):
            def patch(pattern: Tensor, hook, head: int = head) -> Tensor:
                pattern[:, head] = clean_cache[hook.name][:, head]  # pattern is [batch, head, query, key]
                return pattern

            logits = model.run_with_hooks(corrupt_tokens, fwd_hooks=[(name, patch)])
            results[layer, head] = metric(logits).item()
    ### END SOLUTION
    return results


def patch_head_by_position(model, corrupt_tokens: Int[Tensor, "batch seq"], clean_cache,
                           metric: Metric) -> Float[Tensor, "layer head pos"]:
    """Run the corrupted prompts with one head's clean output patched in at one position only.

    Entry ``[layer, head, pos]`` is the metric of a corrupted run in which ``blocks.{layer}.attn.hook_z``
    has head ``head`` replaced by its clean value at position ``pos`` (every prompt) and nowhere else.
    """
    n_layers, n_heads, seq = model.cfg.n_layers, model.cfg.n_heads, corrupt_tokens.shape[1]
    results = torch.zeros(n_layers, n_heads, seq)
    ### BEGIN SOLUTION
    for layer in range(n_layers):
        name = f"blocks.{layer}.attn.hook_z"
        for head in range(n_heads):
            for pos in range(seq):
                def patch(z: Tensor, hook, head: int = head, pos: int = pos) -> Tensor:
                    z[:, pos, head] = clean_cache[hook.name][:, pos, head]  # z is [batch, pos, head, d_head]
                    return z

                logits = model.run_with_hooks(corrupt_tokens, fwd_hooks=[(name, patch)])
                results[layer, head, pos] = metric(logits).item()
    ### END SOLUTION
    return results


# --------------------------------------------------------------------------- path patching


def freeze_heads_except(clean_cache, corrupt_cache, sender: Head):
    """A hook for every ``hook_z`` that pins every head to its clean output, except ``sender``,
    which gets its corrupted output.

    Pinning the other heads is what makes this *path* patching: the sender's new output can
    reach later layers only through the residual stream and the MLPs, never by changing
    what another head reads and writes.
    """
    ### BEGIN SOLUTION
    def hook(z: Tensor, hook) -> Tensor:
        frozen = clean_cache[hook.name].clone()
        if hook.layer() == sender[0]:
            frozen[:, :, sender[1]] = corrupt_cache[hook.name][:, :, sender[1]]
        return frozen

    return hook
    ### END SOLUTION


def path_patch_to_final(model, clean_tokens: Int[Tensor, "batch seq"], clean_cache, corrupt_cache,
                        metric: Metric) -> Float[Tensor, "layer head"]:
    """The metric when only the path sender head -> final residual stream carries the corrupted signal."""
    z_names = {f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)}
    results = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    ### BEGIN SOLUTION
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            hook = freeze_heads_except(clean_cache, corrupt_cache, (layer, head))
            logits = model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda name: name in z_names, hook)])
            results[layer, head] = metric(logits).item()
    ### END SOLUTION
    return results


def path_patch_to_heads(model, clean_tokens: Int[Tensor, "batch seq"], clean_cache, corrupt_cache, metric: Metric,
                        receivers: Sequence[Head], component: str) -> Float[Tensor, "layer head"]:
    """The metric when only the path sender head -> ``component`` (q, k or v) of the receiver heads
    carries the corrupted signal; everything downstream of the receivers runs freely.

    Step 1: corrupt the sender, pin every other head to its clean output, and record the
    receivers' queries (keys, values). Step 2: a clean run in which only the receivers'
    q (k, v) are replaced by the recorded ones.
    """
    if component not in ("q", "k", "v"):
        raise ValueError("component must be 'q', 'k' or 'v'")
    receiver_layers = sorted({layer for layer, _ in receivers})
    receiver_names = {f"blocks.{layer}.attn.hook_{component}" for layer in receiver_layers}
    z_names = {f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)}
    results = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    ### BEGIN SOLUTION
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            recorded: dict[str, Tensor] = {}

            def record(act: Tensor, hook) -> None:
                recorded[hook.name] = act.detach().clone()

            model.run_with_hooks(
                clean_tokens,
                fwd_hooks=[(lambda name: name in z_names, freeze_heads_except(clean_cache, corrupt_cache, (layer, head))),
                           (lambda name: name in receiver_names, record)],
            )

            def patch_receivers(act: Tensor, hook) -> Tensor:
                for r_layer, r_head in receivers:
                    if r_layer == hook.layer():
                        act[:, :, r_head] = recorded[hook.name][:, :, r_head]  # q/k/v are [batch, pos, head, d_head]
                return act

            logits = model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda name: name in receiver_names, patch_receivers)])
            results[layer, head] = metric(logits).item()
    ### END SOLUTION
    return results


def path_patch_at_positions(model, clean_tokens: Int[Tensor, "batch seq"], clean_cache, corrupt_cache, metric: Metric,
                            receivers: Sequence[Head], component: str, sender_pos: Int[Tensor, "batch"],
                            receiver_pos: Int[Tensor, "batch"]) -> Float[Tensor, "layer head"]:
    """Path patching between two token positions: sender head at ``sender_pos[i]`` -> ``component`` (q, k or v)
    of the receiver heads at ``receiver_pos[i]``, for each prompt ``i`` of the batch.

    Positions are indices into each prompt's own row of ``clean_tokens``, counted from its first token (0), so
    with right-padded prompts of mixed lengths they differ between prompts. Step 1: a clean run in which every
    head is pinned to its clean output and the sender takes its corrupted output only at ``sender_pos[i]``;
    record the receivers' ``component``. Step 2: a clean run, nothing pinned, in which only the receivers'
    ``component`` at ``receiver_pos[i]`` is replaced by the recorded value. A sender position after the
    receiver position cannot reach the receiver (attention is causal), so that prompt runs clean.
    """
    if component not in ("q", "k", "v"):
        raise ValueError("component must be 'q', 'k' or 'v'")
    n_prompts, seq = clean_tokens.shape
    for label, positions in (("sender_pos", sender_pos), ("receiver_pos", receiver_pos)):
        if tuple(positions.shape) != (n_prompts,) or positions.is_floating_point() or positions.dtype == torch.bool:
            raise ValueError(f"{label} must be an integer tensor of shape ({n_prompts},): one position per prompt")
        if bool((positions < 0).any()) or bool((positions >= seq).any()):
            raise ValueError(f"{label} must lie in 0..{seq - 1}: positions count from each prompt's first token")
    receiver_layers = sorted({layer for layer, _ in receivers})
    receiver_names = {f"blocks.{layer}.attn.hook_{component}" for layer in receiver_layers}
    z_names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    results = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
    ### BEGIN SOLUTION
    rows = torch.arange(n_prompts, device=clean_tokens.device)
    sender_pos, receiver_pos = sender_pos.to(rows.device), receiver_pos.to(rows.device)
    # True at (prompt i, sender_pos[i]) only: rows paired with positions. (z[:, sender_pos] would instead take
    # every listed position in every prompt.)
    at_sender = torch.zeros(n_prompts, seq, dtype=torch.bool, device=rows.device)
    at_sender[rows, sender_pos] = True
    at_sender = einops.rearrange(at_sender, "batch pos -> batch pos 1 1")  # broadcasts over head, d_head
    for layer in range(model.cfg.n_layers):
        for head in range(model.cfg.n_heads):
            pin_all_positions = freeze_heads_except(clean_cache, corrupt_cache, (layer, head))

            def pin(z: Tensor, hook) -> Tensor:
                # Every head clean, the sender corrupted at every position; then clean again off the sender position.
                return torch.where(at_sender, pin_all_positions(z, hook), clean_cache[hook.name])

            recorded: dict[str, Tensor] = {}

            def record(act: Tensor, hook) -> None:
                recorded[hook.name] = act.detach().clone()

            model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda name: name in z_names, pin),
                                                          (lambda name: name in receiver_names, record)])

            def patch_receivers(act: Tensor, hook) -> Tensor:
                for r_layer, r_head in receivers:
                    if r_layer == hook.layer():  # q/k/v are [batch, pos, head, d_head]
                        act[rows, receiver_pos, r_head] = recorded[hook.name][rows, receiver_pos, r_head]
                return act

            logits = model.run_with_hooks(clean_tokens, fwd_hooks=[(lambda name: name in receiver_names, patch_receivers)])
            results[layer, head] = metric(logits).item()
    ### END SOLUTION
    return results


# --------------------------------------------------------------------------- circuit validation


def mean_ablate_except(model, tokens: Int[Tensor, "batch seq"], circuit: Iterable[Head],
                       means: Float[Tensor, "layer seq head d_head"]) -> Float[Tensor, "batch seq vocab"]:
    """Logits when every head outside ``circuit`` outputs its mean (over a reference dataset) at each position."""
    keep = {(int(layer), int(head)) for layer, head in circuit}
    z_names = {f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)}
    ### BEGIN SOLUTION
    def ablate(z: Tensor, hook) -> Tensor:
        layer = hook.layer()
        ablated = [h for h in range(model.cfg.n_heads) if (layer, h) not in keep]
        # means[layer] is [seq, head, d_head]; it broadcasts over the batch.
        z[:, :, ablated] = means[layer][:, ablated].to(z.dtype)
        return z

    return model.run_with_hooks(tokens, fwd_hooks=[(lambda name: name in z_names, ablate)])
    ### END SOLUTION


# --------------------------------------------------------------------------- attribution patching (bonus)


def attribution_patching(model, clean_tokens: Int[Tensor, "batch seq"], corrupt_tokens: Int[Tensor, "batch seq"],
                         metric: Metric) -> Float[Tensor, "layer head"]:
    """First-order estimate of patch_head_output: (z_clean - z_corrupt) . d metric / d z, at the corrupted run.

    One forward and one backward pass replace n_layers * n_heads patched runs. The gradient is
    the total derivative: it includes every path from a head's output to the metric, through
    the later heads that read it, as patching that head would.
    """
    names = [f"blocks.{layer}.attn.hook_z" for layer in range(model.cfg.n_layers)]
    ### BEGIN SOLUTION
    with torch.no_grad():
        _, clean_cache = model.run_with_cache(clean_tokens, names_filter=lambda name: name in names)
    corrupt_z: dict[str, Tensor] = {}

    def keep(z: Tensor, hook) -> Tensor:
        # A copy that stays in the graph (no detach): later layers read it, so the gradient with
        # respect to it includes every path through later heads, not only the direct one.
        kept = z.clone()
        if not kept.requires_grad:  # frozen weights: nothing upstream needs a gradient anyway
            kept.requires_grad_(True)
        corrupt_z[hook.name] = kept
        return kept

    with torch.enable_grad():
        logits = model.run_with_hooks(corrupt_tokens, fwd_hooks=[(lambda name: name in names, keep)])
        grads = torch.autograd.grad(metric(logits), [corrupt_z[name] for name in names])
    rows = [einops.einsum(clean_cache[name] - corrupt_z[name].detach(), grad,
                          "batch pos head d_head, batch pos head d_head -> head")
            for name, grad in zip(names, grads)]
    return torch.stack(rows).detach()
    ### END SOLUTION
