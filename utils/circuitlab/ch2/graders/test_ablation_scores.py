"""Grader for ch2.ablation_scores."""
from functools import partial

import pytest
import torch

from circuitlab.ch2.grading_support import call_with_model, on_case
from circuitlab.ch2.models import describe_model, model_named, reference_ablation_scores, repeated_inputs
from circuitlab.grading.testing import expect_close, submitted

AXES = ["layer", "head"]


def _losses(model, tokens, half_len, hooks_for, score_slice):
    """Loss change per (layer, head) for a family of wrong variants, to name a learner's mistake."""
    def loss(logits):
        lp = logits[:, :-1].log_softmax(-1).gather(-1, tokens[:, 1:, None])[..., 0]
        return -lp[:, score_slice].mean()

    with torch.no_grad():
        baseline = loss(model(tokens))
        out = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)
        for layer in range(model.cfg.n_layers):
            for head in range(model.cfg.n_heads):
                out[layer, head] = loss(model.run_with_hooks(tokens, fwd_hooks=hooks_for(layer, head))) - baseline
    return out, baseline


def _already_close(out, expected: torch.Tensor) -> bool:
    return (isinstance(out, torch.Tensor) and out.shape == expected.shape
            and bool(torch.allclose(out.detach().float().cpu(), expected, atol=1e-4, rtol=1e-4)))


def _zero(z, hook, head, everything=False):
    z = z.clone()
    if everything:
        z[:] = 0.0
    else:
        z[:, :, head] = 0.0
    return z


@pytest.mark.parametrize("name, batch, half_len", [("shipped", 4, 10), ("random", 1, 7)])
def test_zero_ablation(name, batch, half_len):
    """zero-ablation: increase in the repeated-half loss for every (layer, head)"""
    with on_case(f"{describe_model(name)}, batch {batch}, half_len {half_len}, mean_ablate=False"):
        _check_zero_ablation(name, batch, half_len)


def _check_zero_ablation(name, batch, half_len):
    model = model_named(name)
    tokens = repeated_inputs(name, batch, half_len, seed=2)
    expected = reference_ablation_scores(name, batch, half_len, 2, False)
    out = call_with_model(submitted(), model, tokens.clone(), half_len, mean_ablate=False, time_limit=20)
    if _already_close(out, expected):
        return  # the mistakes below cost many forward passes: work them out only for a wrong answer
    per_head = lambda layer, head: [(f"blocks.{layer}.attn.hook_z", partial(_zero, head=head))]
    all_positions, _ = _losses(model, tokens, half_len, per_head, slice(None))
    whole_layer, _ = _losses(model, tokens, half_len,
                             lambda l, h: [(f"blocks.{l}.attn.hook_z", partial(_zero, head=h, everything=True))],
                             slice(half_len + 1, None))
    _, baseline = _losses(model, tokens, half_len, lambda l, h: [], slice(half_len + 1, None))
    expect_close(out, expected, atol=1e-4, what="ablation scores", axis_names=AXES, mistakes={
        "You averaged the loss over every position; the score uses only the predictable repeated tokens "
        "(token_log_probs entries half_len + 1 onwards).": all_positions,
        "You ablated every head of the layer at once: the hook should zero only z[:, :, head].": whole_layer,
        "You returned the ablated loss itself; the score is the increase over the loss without ablation.":
            expected + baseline,
    }, hint="Score = (repeated-half loss with the head ablated) - (repeated-half loss of the clean model).")


@pytest.mark.parametrize("name, batch, half_len", [("shipped", 4, 8), ("wide", 3, 6)])
def test_mean_ablation(name, batch, half_len):
    """mean-ablation: each head's z replaced by its mean over the batch, position by position"""
    with on_case(f"{describe_model(name)}, batch {batch}, half_len {half_len}, mean_ablate=True"):
        _check_mean_ablation(name, batch, half_len)


def _check_mean_ablation(name, batch, half_len):
    model = model_named(name)
    tokens = repeated_inputs(name, batch, half_len, seed=3)
    expected = reference_ablation_scores(name, batch, half_len, 3, True)
    out = call_with_model(submitted(), model, tokens.clone(), half_len, mean_ablate=True, time_limit=20)
    if _already_close(out, expected):
        return
    zero = reference_ablation_scores(name, batch, half_len, 3, False)
    with torch.no_grad():
        _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_z"))

    def hooks(layer, head):
        name = f"blocks.{layer}.attn.hook_z"

        def fill(z, hook):
            z = z.clone()
            z[:, :, head] = cache[name][:, :, head].mean(dim=(0, 1))
            return z

        return [(name, fill)]

    over_everything, _ = _losses(model, tokens, half_len, hooks, slice(half_len + 1, None))
    expect_close(out, expected, atol=1e-4, what="mean-ablation scores", axis_names=AXES, mistakes={
        "With mean_ablate=True you zeroed the heads: replace each head's z by its mean over the batch instead.": zero,
        "You averaged z over positions as well as the batch: keep one mean per position (mean over dim 0 only).":
            over_everything,
    })

