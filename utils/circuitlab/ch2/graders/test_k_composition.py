"""Grader for ch2.k_composition."""
from functools import lru_cache

import pytest
import torch

from circuitlab.ch2.grading_support import call_with_model, expect_matches, on_case
from circuitlab.ch2.models import describe_model, model_named
from circuitlab.grading.testing import reference, submitted


def _grid(model, read_of) -> torch.Tensor:
    """Composition scores from dense d_model x d_model matrices (cheap at this size)."""
    n = model.cfg.n_heads
    writers = [model.OV[0, w].AB for w in range(n)]
    readers = [read_of(model, r).AB for r in range(n)]
    return torch.tensor([[((a @ b).norm() / (a.norm() * b.norm())).item() for b in readers] for a in writers])


@lru_cache(maxsize=None)
def _expected(name: str) -> torch.Tensor:
    with torch.no_grad():
        return reference()(model_named(name))


@pytest.mark.parametrize("name", ["shipped", "random", "wide"])
def test_matches_reference(name):
    """scores[writer, reader]: layer-0 head writer into layer-1 head reader's keys"""
    model = model_named(name)
    expected = _expected(name)

    def mistakes():
        with torch.no_grad():
            last = model.cfg.n_layers - 1
            found = {} if last == 1 else {
                f"You read layer {last}, the last layer; the readers are layer 1's heads (model.QK[1, reader]), "
                "whatever the number of layers.": _grid(model, lambda m, r: m.QK[last, r].T)}
            return found | {
                "That is Q-composition: the query side reads the left factor of QK. Keys read through the right "
                "factor, so use model.QK[1, reader].T.": _grid(model, lambda m, r: m.QK[1, r]),
                "That is V-composition (into layer 1's OV circuit); K-composition reads through "
                "model.QK[1, reader].T.": _grid(model, lambda m, r: m.OV[1, r]),
                "Rows and columns are swapped: rows are layer-0 writers, columns layer-1 readers.": expected.T,
            }

    with on_case(describe_model(name)):
        out = call_with_model(submitted(), model)
        expect_matches(out, expected, axes=["writer (layer-0 head)", "reader (layer-1 head)"], atol=1e-5,
                       what="K-composition scores", mistakes=mistakes)
