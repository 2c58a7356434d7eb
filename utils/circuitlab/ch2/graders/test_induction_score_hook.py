"""Grader for ch2.induction_score_hook."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch2.grading_support import call_with_model, expect_matches, on_case
from circuitlab.ch2.models import describe_model, model_named, repeated_inputs
from circuitlab.grading.testing import reference, submitted

# (model, batch, half_len): batch 1 on the three-layer model, so a bare .squeeze() or a hard-coded
# layer count fails somewhere.
CASES = [("shipped", 6, 15), ("random", 1, 9), ("wide", 3, 7)]


@lru_cache(maxsize=None)
def _tokens(name: str, batch: int, half_len: int) -> torch.Tensor:
    """Repeated tokens in which token 3 of each half equals token 1: a token that occurs twice in the first half."""
    tokens = repeated_inputs(name, batch, half_len, seed=1).clone()
    tokens[:, 3] = tokens[:, 1]
    tokens[:, half_len + 3] = tokens[:, half_len + 1]
    return tokens


def _patterns(model, tokens) -> list[torch.Tensor]:
    _, cache = model.run_with_cache(tokens, names_filter=lambda n: n.endswith("hook_pattern"))
    return [cache[f"blocks.{layer}.attn.hook_pattern"] for layer in range(model.cfg.n_layers)]


def _stripe_means(patterns, offset: int, start: int) -> torch.Tensor:
    return torch.stack([p.diagonal(offset=offset, dim1=-2, dim2=-1)[..., start:].mean(dim=(0, -1)) for p in patterns])


def _by_token_value(patterns, tokens, half_len: int) -> torch.Tensor:
    """The key after the first position in the first half holding the query's token (by value, not position)."""
    rows = []
    for pattern in patterns:
        total = torch.zeros(pattern.shape[1])
        for b in range(tokens.shape[0]):
            for q in range(half_len + 1, 2 * half_len + 1):
                first = next(p for p in range(1, half_len + 1) if tokens[b, p] == tokens[b, q])
                total += pattern[b, :, q, first + 1]
        rows.append(total / (tokens.shape[0] * half_len))
    return torch.stack(rows)


def _mistakes(model, tokens, half_len: int) -> dict:
    patterns = _patterns(model, tokens)
    return {
        "Your average includes queries in the first half (and the BOS key): the diagonal with offset "
        "-(half_len - 1) starts at query half_len - 1; keep only second-half queries (drop its first two "
        "entries).": _stripe_means(patterns, -(half_len - 1), 0),
        "Your average includes a query in the first half: the last first-half token (query half_len) has "
        "no earlier copy; drop the first two entries of the diagonal, not one.": _stripe_means(patterns, -(half_len - 1), 1),
        "Wrong offset: you measured attention to the earlier copy of the same token (offset -half_len, a "
        "duplicate-token head). Induction attends to the token after it: offset -(half_len - 1).":
            _stripe_means(patterns, -half_len, 1),
        "Wrong offset: offset -(half_len + 1) is the token before the earlier copy. Induction attends to "
        "the token after it: offset -(half_len - 1).": _stripe_means(patterns, -(half_len + 1), 0),
        "You looked up where the query's token first occurs by its value. The spec goes by position: query "
        "half_len + i reads key i + 1, even when the same token also appears earlier in the first half (as "
        "in this input).": _by_token_value(patterns, tokens, half_len),
    }


@pytest.mark.parametrize("name, batch, half_len", CASES, ids=[f"{c[0]}-batch{c[1]}" for c in CASES])
def test_matches_reference(name, batch, half_len):
    """one score per (layer, head) on repeated tokens (trained model; two random models of other sizes)"""
    model = model_named(name)
    tokens = _tokens(name, batch, half_len)
    with torch.no_grad():
        expected = reference()(model, tokens, half_len)
    with on_case(f"{describe_model(name)}, batch {batch}, half_len {half_len} (tokens 1 and 3 of each half equal)"):
        out = call_with_model(submitted(), model, tokens.clone(), half_len)
        with torch.no_grad():
            expect_matches(out, expected, axes=["layer", "head"], what="induction scores",
                           mistakes=lambda: _mistakes(model, tokens, half_len),
                           hint="Scores are (n_layers, n_heads); compare the positions you average over with the spec.")


def test_second_call():
    """a second call on another batch gives that batch's scores (nothing carried over from the first)"""
    model, first, second = model_named("wide"), _tokens("wide", 3, 7), _tokens("wide", 2, 5)
    with torch.no_grad():
        expected = reference()(model, second, 5)
    with on_case(f"{describe_model('wide')}: a call with batch 3, half_len 7, then with batch 2, half_len 5"):
        call_with_model(submitted(), model, first.clone(), 7)
        out = call_with_model(submitted(), model, second.clone(), 5)
        with torch.no_grad():
            expect_matches(out, expected, axes=["layer", "head"], what="induction scores of the second call")
