"""Grader for ch2.k_composition."""
import pytest
import torch

from circuitlab.ch2.models import model_named
from circuitlab.grading.testing import expect_close, reference, run_learner, submitted


def _grid(model, read_of) -> torch.Tensor:
    """Composition scores from dense d_model x d_model matrices (cheap at this size)."""
    n = model.cfg.n_heads
    writers = [model.OV[0, w].AB for w in range(n)]
    readers = [read_of(model, r).AB for r in range(n)]
    return torch.tensor([[((a @ b).norm() / (a.norm() * b.norm())).item() for b in readers] for a in writers])


@pytest.mark.parametrize("name", ["shipped", "random"])
def test_matches_reference(name):
    """scores[writer, reader]: layer-0 head writer into layer-1 head reader's keys"""
    model = model_named(name)
    out = run_learner(submitted(), model)
    with torch.no_grad():
        expected = reference()(model)
        if isinstance(out, torch.Tensor) and out.shape == expected.shape and torch.allclose(out.float(), expected, atol=1e-5):
            return
        mistakes = {
            "That is Q-composition: the query side reads the left factor of QK. Keys read through the right "
            "factor, so use model.QK[1, reader].T.": _grid(model, lambda m, r: m.QK[1, r]),
            "That is V-composition (into layer 1's OV circuit); K-composition reads through model.QK[1, reader].T.":
                _grid(model, lambda m, r: m.OV[1, r]),
            "Rows and columns are swapped: rows are layer-0 writers, columns layer-1 readers.": expected.T,
        }
    expect_close(out, expected, atol=1e-5, what="K-composition scores", mistakes=mistakes)
