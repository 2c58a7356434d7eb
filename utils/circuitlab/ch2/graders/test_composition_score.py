"""Grader for ch2.composition_score."""
import pytest
import torch
from transformer_lens import FactoredMatrix

from circuitlab.ch2.models import model_named
from circuitlab.grading.testing import expect, expect_close, reference, run_learner, seeded, submitted


def _pairs():
    with seeded(9):
        a = FactoredMatrix(torch.randn(12, 3), torch.randn(3, 12))
        b = FactoredMatrix(torch.randn(12, 4), torch.randn(4, 12) * 5)
        c = FactoredMatrix(torch.randn(10, 2), torch.randn(2, 10))
        d = FactoredMatrix(torch.randn(10, 2) * 0.1, torch.randn(2, 10))
    return {"random-12": (a, b), "random-10": (c, d)}


def _as_float(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        expect(out.numel() == 1, f"Return one number, not a tensor of shape {tuple(out.shape)}.")
        return out.detach().reshape(()).float()
    expect(isinstance(out, (float, int)), f"Return a float, not {type(out).__name__}.")
    return torch.tensor(float(out))


def _check(write, read):
    out = _as_float(run_learner(submitted(), write, read))
    product = (write @ read).norm()
    expect_close(out, torch.tensor(reference()(write, read)), atol=1e-5, rtol=1e-4, what="composition score", mistakes={
        "You did not normalise: divide ||write @ read|| by ||write|| * ||read||, so the score does not grow "
        "with the size of the weights.": product,
        "You divided by only one of the two norms: the score is ||write @ read|| / (||write|| ||read||).":
            product / write.norm(),
        "You multiplied in the wrong order: the score is about write @ read (what read takes in from write).":
            (read @ write).norm() / (write.norm() * read.norm()),
    })


@pytest.mark.parametrize("case", ["random-12", "random-10"])
def test_random_factored_matrices(case):
    """matches the reference on random factored matrices of two sizes"""
    write, read = _pairs()[case]
    _check(write, read)


def test_model_heads():
    """matches the reference on the shipped model's OV and QK circuits"""
    model = model_named("shipped")
    with torch.no_grad():
        _check(model.OV[0, 1], model.QK[1, 2].T)
