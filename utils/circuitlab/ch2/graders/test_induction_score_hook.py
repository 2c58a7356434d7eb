"""Grader for ch2.induction_score_hook."""
import pytest
import torch

from circuitlab.ch2.models import model_named, repeated_inputs
from circuitlab.grading.testing import expect_close, reference, run_learner, submitted


def _stripe_means(model, tokens, offset: int, start: int) -> torch.Tensor:
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    return torch.stack([
        cache[f"blocks.{layer}.attn.hook_pattern"].diagonal(offset=offset, dim1=-2, dim2=-1)[..., start:].mean(dim=(0, -1))
        for layer in range(model.cfg.n_layers)
    ])


@pytest.mark.parametrize("name, batch, half_len", [("shipped", 6, 15), ("random", 3, 9)])
def test_matches_reference(name, batch, half_len):
    """one score per (layer, head) on repeated tokens (shipped model and a random model)"""
    model = model_named(name)
    tokens = repeated_inputs(name, batch, half_len, seed=1)
    out = run_learner(submitted(), model, tokens, half_len)
    with torch.no_grad():
        expected = reference()(model, tokens, half_len)
        mistakes = {
            "Your average includes queries in the first half (and the BOS key): the diagonal with offset "
            "-(half_len - 1) starts at query half_len - 1; keep only second-half queries (drop its first two "
            "entries).": _stripe_means(model, tokens, -(half_len - 1), 0),
            "Your average includes a query in the first half: the last first-half token (query half_len) has "
            "no earlier copy; drop the first two entries of the diagonal, not one.":
                _stripe_means(model, tokens, -(half_len - 1), 1),
            "Wrong offset: you measured attention to the earlier copy of the same token (offset -half_len, a "
            "duplicate-token head). Induction attends to the token after it: offset -(half_len - 1).":
                _stripe_means(model, tokens, -half_len, 1),
            "Wrong offset: offset -(half_len + 1) is the token before the earlier copy. Induction attends to "
            "the token after it: offset -(half_len - 1).": _stripe_means(model, tokens, -(half_len + 1), 0),
        }
    expect_close(out, expected, atol=1e-5, what="induction scores", mistakes=mistakes,
                 hint="Scores are (n_layers, n_heads); compare the positions you average over with the spec.")
