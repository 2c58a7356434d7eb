"""Grader for ch2.full_ov_top1."""
import pytest
import torch

from circuitlab.ch2.models import model_named
from circuitlab.grading.testing import expect, expect_close, reference, run_learner, submitted


def _top1(matrix: torch.Tensor, dim: int) -> torch.Tensor:
    return (matrix.argmax(dim=dim) == torch.arange(matrix.shape[0])).float().mean()


@pytest.mark.parametrize("name, layer, head", [("shipped", 1, 0), ("shipped", 1, 3), ("shipped", 0, 1),
                                               ("random", 1, 2)])
def test_matches_reference(name, layer, head):
    """fraction of source tokens whose own logit is the largest in the full OV circuit"""
    model = model_named(name)
    out = run_learner(submitted(), model, layer, head)
    if isinstance(out, torch.Tensor):
        expect(out.numel() == 1, f"Return one number (a float), not a tensor of shape {tuple(out.shape)}.")
        out = out.reshape(())
    expect(isinstance(out, (float, torch.Tensor)), f"Return a float, not {type(out).__name__}.")
    out = torch.as_tensor(float(out))
    with torch.no_grad():
        full = (model.W_E @ model.OV[layer, head] @ model.W_U).AB
        qk = (model.W_E @ model.QK[layer, head] @ model.W_E.T).AB
        expected = torch.as_tensor(reference()(model, layer, head))
    expect_close(out, expected, atol=1e-6, what="copying accuracy", mistakes={
        "You took the argmax over the wrong axis: row i (source token i) holds the logits it produces, so "
        "take argmax over the last axis (the output token).": _top1(full, 0),
        "You used the QK circuit; copying is about what the head writes: the OV circuit W_E OV W_U.": _top1(qk, -1),
    }, hint="full = model.W_E @ model.OV[layer, head] @ model.W_U; count rows whose argmax is their own index.")
