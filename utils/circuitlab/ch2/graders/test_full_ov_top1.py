"""Grader for ch2.full_ov_top1."""
import pytest
import torch

from circuitlab.ch2.grading_support import call_with_model, on_case
from circuitlab.ch2.models import describe_model, model_named
from circuitlab.grading.testing import expect_close, expect_python_float, reference, submitted


def _top1(matrix: torch.Tensor, dim: int) -> torch.Tensor:
    return (matrix.argmax(dim=dim) == torch.arange(matrix.shape[0])).float().mean()


@pytest.mark.parametrize("name, layer, head", [("shipped", 1, 0), ("shipped", 1, 3), ("shipped", 0, 1),
                                               ("random", 2, 2), ("wide", 1, 4)])
def test_matches_reference(name, layer, head):
    """a Python float: the fraction of source tokens whose own logit is the largest in the full OV circuit"""
    model = model_named(name)
    with torch.no_grad():
        expected = torch.tensor(reference()(model, layer, head))
        full = (model.W_E @ model.OV[layer, head] @ model.W_U).AB
    with on_case(f"{describe_model(name)}, head ({layer}, {head})"):
        out = expect_python_float(call_with_model(submitted(), model, layer, head), what="your copying accuracy")
        with torch.no_grad():
            qk = (model.W_E @ model.QK[layer, head] @ model.W_E.T).AB
            top5 = (full.topk(5, dim=-1).indices == torch.arange(full.shape[0])[:, None]).any(-1).float().mean()
            mistakes = {
                "You took the argmax over the wrong axis: row i (source token i) holds the logits it produces, so "
                "take argmax over the last axis (the output token).": _top1(full, 0),
                "You used the QK circuit; copying is about what the head writes: the OV circuit W_E OV W_U.": _top1(qk, -1),
                "You counted the token among the top 5; the copying accuracy counts only the top 1 (argmax).": top5,
                "You returned the number of hits; the spec asks for the fraction: divide by d_vocab.":
                    _top1(full, -1) * full.shape[0],
            }
        expect_close(torch.tensor(out), expected, atol=1e-6, rtol=0, what="copying accuracy", mistakes=mistakes,
                     hint="full = model.W_E @ model.OV[layer, head] @ model.W_U; count rows whose argmax is their own "
                          "index, divided by the number of rows.")
