"""Grader for ch2.induction_scores_ablated."""
import pytest
import torch

from circuitlab.ch2.grading_support import call_with_model, expect_matches, on_case
from circuitlab.ch2.models import describe_model, model_named, repeated_inputs
from circuitlab.grading.testing import reference, submitted

# (model, batch, half_len, ablated layer-0 heads)
CASES = [("shipped", 4, 10, [1, 3]), ("shipped", 3, 7, []), ("random", 2, 6, [0]), ("wide", 5, 8, [4, 0, 2]),
         ("shipped", 1, 9, [2])]
IDS = ["shipped-two-heads", "shipped-none", "random-one-head", "wide-three-heads", "shipped-batch1"]


def _stripe_scores(pattern: torch.Tensor, half_len: int) -> torch.Tensor:
    return pattern.diagonal(offset=-(half_len - 1), dim1=-2, dim2=-1)[..., 2:].mean((0, -1))


def _run(model, tokens, half_len, heads, *, layer=0, means_over=(0,), zero=False, read_layer=1):
    # (Ablating layer 1 instead would leave layer 1's pattern clean: the "clean scores" message covers it.)
    """Induction scores of every layer under one variant of the ablation (for naming mistakes)."""
    name = f"blocks.{layer}.attn.hook_z"
    _, cache = model.run_with_cache(tokens, names_filter=name)
    means = cache[name].mean(dim=means_over, keepdim=True)[0] if means_over == (0,) else cache[name].mean(dim=means_over)
    patterns = {}

    def ablate(z, hook):
        z = z.clone()
        z[:, :, heads] = 0.0 if zero else means[..., heads, :]
        return z

    def record(pattern, hook):
        patterns[hook.layer()] = pattern

    model.run_with_hooks(tokens, return_type=None, fwd_hooks=[
        (name, ablate), *[(f"blocks.{l}.attn.hook_pattern", record) for l in range(model.cfg.n_layers)]])
    return _stripe_scores(patterns[read_layer], half_len)


def _mistakes(model, tokens, half_len, heads) -> dict:
    found = {
        "You zeroed the heads; mean-ablation replaces each listed head's z by its mean over the batch (one row "
        "per position).": _run(model, tokens, half_len, heads, zero=True),
        "You averaged z over positions as well as the batch: keep one mean per position (mean over dim 0 only).":
            _run(model, tokens, half_len, heads, means_over=(0, 1)),
        "These are the clean scores: the ablation did not reach the patterns you read. Ablate and record in "
        "the same forward pass (both hooks in one run_with_hooks call).": _run(model, tokens, half_len, []),
    }
    if heads:
        found["You ablated only the first head of the list; ablate every head in `heads` together."] = _run(
            model, tokens, half_len, heads[:1])
    return found


@pytest.mark.parametrize("name, batch, half_len, heads", CASES, ids=IDS)
def test_matches_reference(name, batch, half_len, heads):
    """layer-1 induction scores (n_heads,) with the listed layer-0 heads mean-ablated"""
    model = model_named(name)
    tokens = repeated_inputs(name, batch, half_len, seed=5)
    with torch.no_grad():
        expected = reference()(model, tokens, half_len, list(heads))
    with on_case(f"{describe_model(name)}, batch {batch}, half_len {half_len}, heads {heads}"):
        out = call_with_model(submitted(), model, tokens.clone(), half_len, list(heads))
        with torch.no_grad():
            expect_matches(out, expected, axes=["layer-1 head"], atol=1e-5, what="your ablated induction scores",
                           mistakes=lambda: _mistakes(model, tokens, half_len, list(heads)),
                           hint="Mean-ablate the listed layer-0 heads and read the layer-1 stripe in the same run.")
