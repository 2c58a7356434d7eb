"""Mutants and alternatives for ch2.ablation_scores."""
from functools import partial

import torch

from circuitlab.grading.meta import alternative, mutant


def _zero_head(z, hook, head, replacement=None):
    z[:, :, head] = 0.0 if replacement is None else replacement
    return z


def _scores(model, tokens, half_len, mean_ablate, score_slice=None, hook_fn=_zero_head, subtract=True,
            mean_dims=(0,)):
    score_slice = slice(half_len + 1, None) if score_slice is None else score_slice

    def loss(logits):
        lp = logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]
        return -lp[:, score_slice].mean()

    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
        baseline = loss(logits) if subtract else 0.0
        scores = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
        for layer in range(model.cfg.n_layers):
            for head in range(model.cfg.n_heads):
                z = cache["z", layer][:, :, head]
                replacement = z.mean(dim=mean_dims) if mean_ablate else None
                hook = partial(hook_fn, head=head, replacement=replacement)
                scores[layer, head] = loss(model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", hook)])) - baseline
    return scores


@mutant(hint="every position")
def loss_over_all_positions(model, tokens, half_len, mean_ablate=False):
    return _scores(model, tokens, half_len, mean_ablate, score_slice=slice(None))


@mutant(hint="increase over the loss without ablation")
def no_baseline(model, tokens, half_len, mean_ablate=False):
    return _scores(model, tokens, half_len, mean_ablate, subtract=False)


def _whole_layer(z, hook, head, replacement=None):
    z[:] = 0.0
    return z


@mutant(hint="every head of the layer")
def ablates_all_heads(model, tokens, half_len, mean_ablate=False):
    return _scores(model, tokens, half_len, mean_ablate, hook_fn=_whole_layer)


@mutant(hint="over positions as well")
def mean_over_batch_and_positions(model, tokens, half_len, mean_ablate=False):
    return _scores(model, tokens, half_len, mean_ablate, mean_dims=(0, 1))


@alternative
def with_cross_entropy(model, tokens, half_len, mean_ablate=False):
    def loss(logits):
        targets = tokens[:, half_len + 2:]
        preds = logits[:, half_len + 1:-1]
        return torch.nn.functional.cross_entropy(preds.reshape(-1, preds.shape[-1]), targets.reshape(-1))

    return _with_loss(model, tokens, mean_ablate, loss)


def _with_loss(model, tokens, mean_ablate, loss):
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens)
        baseline = loss(model(tokens))
        rows = []
        for layer in range(model.cfg.n_layers):
            row = []
            for head in range(model.cfg.n_heads):
                replacement = cache["z", layer][:, :, head].mean(0) if mean_ablate else None
                hook = partial(_zero_head, head=head, replacement=replacement)
                row.append(loss(model.run_with_hooks(tokens, fwd_hooks=[(f"blocks.{layer}.attn.hook_z", hook)])) - baseline)
            rows.append(torch.stack(row))
    return torch.stack(rows)


@mutant(hint="left hooks")
def hooks_left_behind(model, tokens, half_len, mean_ablate=False):
    scores = _scores(model, tokens, half_len, mean_ablate)
    model.add_hook("blocks.0.attn.hook_z", lambda z, hook: z)  # a hook for "later", never removed
    return scores


@mutant(hint="3 layers, 3 heads")  # the report names the model it failed on
def hard_coded_two_by_four(model, tokens, half_len, mean_ablate=False):
    scores = torch.zeros(2, 4)
    full = _scores(model, tokens, half_len, mean_ablate)
    scores[:, :] = full[:2, :4]
    return scores


@alternative
def with_hook_context_manager(model, tokens, half_len, mean_ablate=False):
    def loss(logits):
        lp = logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]
        return -lp[:, half_len + 1:].mean()

    with torch.no_grad():
        logits, cache = model.run_with_cache(tokens)
        baseline = loss(logits)
        scores = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
        for layer in range(model.cfg.n_layers):
            for head in range(model.cfg.n_heads):
                replacement = cache["z", layer][:, :, head].mean(0) if mean_ablate else None
                hook = partial(_zero_head, head=head, replacement=replacement)
                with model.hooks(fwd_hooks=[(f"blocks.{layer}.attn.hook_z", hook)]):
                    scores[layer, head] = loss(model(tokens)) - baseline
    return scores
