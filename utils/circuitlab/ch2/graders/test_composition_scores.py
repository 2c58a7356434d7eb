"""Grader for ch2.composition_scores."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch2.grading_support import call_with_model, expect_matches, on_case
from circuitlab.ch2.models import describe_model, model_named
from circuitlab.grading.testing import GradingFailure, NotAttempted, expect, reference, submitted

READERS = {
    "q": lambda model, layer: model.QK[layer],
    "k": lambda model, layer: model.QK[layer].T,
    "v": lambda model, layer: model.OV[layer],
}
CASES = [("shipped", "q"), ("shipped", "k"), ("shipped", "v"), ("random", "q"), ("random", "k"), ("wide", "v")]


def _dense_grid(model, readers) -> torch.Tensor:
    """Scores from dense d_model x d_model matrices, pair by pair (cheap at this size)."""
    writers = model.OV[0].AB
    readers = readers.AB
    norm = torch.linalg.matrix_norm
    return torch.stack([torch.stack([norm(w @ r) / (norm(w) * norm(r)) for r in readers]) for w in writers])


@lru_cache(maxsize=None)
def _expected(name: str, kind: str) -> torch.Tensor:
    with torch.no_grad():
        return reference()(model_named(name), kind)


def _mistakes(model, name, kind) -> dict:
    found = {}
    for other, words in [("q", "Q-composition (model.QK[1], the query side)"),
                         ("k", "K-composition (model.QK[1].T, the key side)"),
                         ("v", "V-composition (model.OV[1], the values)")]:
        if other != kind:
            found[f"For kind={kind!r} you computed {words}. The readers are: 'q' model.QK[1], 'k' model.QK[1].T, "
                  "'v' model.OV[1]."] = _expected(name, other)
    last = model.cfg.n_layers - 1
    if last != 1:
        found[f"You read layer {last}, the last layer; the readers are layer 1's heads, whatever the number of "
              "layers."] = _dense_grid(model, READERS[kind](model, last))
    found["Rows and columns are swapped: rows are layer-0 writers, columns layer-1 readers."] = _expected(name, kind).T
    writers = model.OV[0]
    readers = READERS[kind](model, 1)
    found["You did not normalise: divide ||writer @ reader|| by ||writer|| * ||reader||."] = (
        writers[:, None] @ readers[None, :]).norm()
    found["You multiplied in the wrong order: the score is about writer @ reader."] = (
        readers[None, :] @ writers[:, None]).norm() / (writers.norm()[:, None] * readers.norm()[None, :])
    return found


@pytest.mark.parametrize("name, kind", CASES, ids=[f"{n}-{k}" for n, k in CASES])
def test_matches_reference(name, kind):
    """scores[writer, reader] for every pair of a layer-0 and a layer-1 head"""
    model = model_named(name)
    expected = _expected(name, kind)
    with on_case(f"{describe_model(name)}, kind={kind!r}"):
        out = call_with_model(submitted(), model, kind)
        with torch.no_grad():
            expect_matches(out, expected, axes=["writer (layer-0 head)", "reader (layer-1 head)"], atol=1e-5,
                           what=f"{kind.upper()}-composition scores", mistakes=lambda: _mistakes(model, name, kind))


def test_agrees_with_dense_matrices():
    """K-composition equals the score computed pair by pair from dense matrices"""
    model = model_named("wide")
    with on_case(describe_model("wide")), torch.no_grad():
        out = call_with_model(submitted(), model, "k")
        expect_matches(out, _dense_grid(model, READERS["k"](model, 1)), axes=["writer", "reader"], atol=1e-4,
                       what="K-composition scores")


def test_unknown_kind_raises_value_error():
    """kind='x' raises ValueError"""
    model = model_named("wide")
    try:
        call_with_model(submitted(), model, "x")
    except NotAttempted:
        raise
    except GradingFailure as failure:
        expect("raised ValueError" in str(failure),
               f"For kind='x' your function should raise ValueError; instead: {failure}")
    else:
        raise GradingFailure("For kind='x' your function returned a value; the spec says any kind other than 'q', "
                             "'k' or 'v' raises ValueError.")
