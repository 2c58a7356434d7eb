"""Grader for ch2.composition_score."""
import pytest
import torch
from transformer_lens import FactoredMatrix

from circuitlab.ch2.grading_support import on_case
from circuitlab.ch2.models import describe_model, model_named
from circuitlab.grading.testing import expect_close, expect_python_float, reference, run_learner, seeded, submitted


def _random_pairs():
    with seeded(9):
        a = FactoredMatrix(torch.randn(12, 3), torch.randn(3, 12))
        b = FactoredMatrix(torch.randn(12, 4), torch.randn(4, 12) * 5)
        c = FactoredMatrix(torch.randn(10, 2), torch.randn(2, 10))
        d = FactoredMatrix(torch.randn(10, 2) * 0.1, torch.randn(2, 10))
    return {"random factored matrices 12 x 12 (ranks 3 and 4)": (a, b),
            "random factored matrices 10 x 10 (rank 2, one scaled by 0.1)": (c, d)}


def _model_pairs():
    pairs = {}
    for name, writer, reader in [("shipped", (0, 1), (1, 2)), ("random", (0, 2), (2, 0)), ("wide", (0, 4), (1, 3))]:
        model = model_named(name)
        pairs[f"{describe_model(name)}: OV of head {writer}, QK^T of head {reader}"] = (
            model.OV[writer], model.QK[reader].T)
    return pairs


def _check(write, read):
    expected = torch.tensor(reference()(write, read))
    out = expect_python_float(run_learner(submitted(), write, read), what="your composition score")
    with torch.no_grad():
        product = (write @ read).norm()
        mistakes = {
            "You did not normalise: divide ||write @ read|| by ||write|| * ||read||, so the score does not grow "
            "with the size of the weights.": product,
            "You divided by only one of the two norms: the score is ||write @ read|| / (||write|| ||read||).":
                product / write.norm(),
            "You multiplied in the wrong order: the score is about write @ read (what read takes in from write).":
                (read @ write).norm() / (write.norm() * read.norm()),
            "You squared the norms (sum of squares without the square root): the Frobenius norm is the square root.":
                product**2 / (write.norm() ** 2 * read.norm() ** 2),
        }
    expect_close(torch.tensor(out), expected, atol=1e-6, rtol=1e-4, what="composition score", mistakes=mistakes)


@pytest.mark.parametrize("case", list(_random_pairs()), ids=["random-12", "random-10"])
def test_random_factored_matrices(case):
    """a Python float matching the reference on random factored matrices of two sizes"""
    write, read = _random_pairs()[case]
    with on_case(case):
        _check(write, read)


@pytest.mark.parametrize("index", [0, 1, 2], ids=["shipped", "random", "wide"])
def test_model_heads(index):
    """matches the reference on the OV and QK circuits of the three grading models"""
    case, (write, read) = list(_model_pairs().items())[index]
    with on_case(case), torch.no_grad():
        _check(write, read)
