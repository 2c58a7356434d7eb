"""Grader for ch2.induction_qk_circuit."""
import pytest
import torch
from transformer_lens import FactoredMatrix

from circuitlab.ch2.grading_support import call_with_model, expect_matches, on_case
from circuitlab.ch2.models import describe_model, model_named
from circuitlab.grading.testing import fail, reference, submitted

CASES = [("shipped", 3, 2), ("shipped", 0, 0), ("random", 1, 2), ("wide", 4, 1)]


def _mistakes(model, prev_head, induction_head) -> dict:
    W_E, qk, ov = model.W_E, model.QK[1, induction_head], model.OV[0, prev_head]
    expected = (W_E @ qk @ (W_E @ ov).T).AB
    return {
        "You left out the previous-token head: W_E @ QK @ W_E.T is the direct path. The key side is what head "
        "(0, prev_head) writes, W_E @ model.OV[0, prev_head].": (W_E @ qk @ W_E.T).AB,
        "You put the previous-token head's output on the query side; queries are plain tokens (rows), keys "
        "read what the previous-token head wrote (columns).": ((W_E @ ov) @ qk @ W_E.T).AB,
        "Rows and columns are swapped: rows are the query's token, columns the token the previous-token head "
        "moved to the key position.": expected.T,
        "You used layer 1's OV circuit on the key side; the previous-token head is in layer 0 "
        "(model.OV[0, prev_head]).": (W_E @ qk @ (W_E @ model.OV[1, prev_head]).T).AB,
        "You used the OV circuit of head (0, induction_head) and the QK circuit of head (1, prev_head): the "
        "two head indices are swapped.": (W_E @ model.QK[1, prev_head] @ (W_E @ model.OV[0, induction_head]).T).AB,
    }


@pytest.mark.parametrize("name, prev_head, induction_head", CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}" for c in CASES])
def test_matches_reference(name, prev_head, induction_head):
    """a FactoredMatrix (d_vocab, d_vocab), never materialised, equal to W_E QK (W_E OV)^T"""
    model = model_named(name)
    d_vocab, d_head = model.cfg.d_vocab, model.cfg.d_head
    with torch.no_grad():
        expected = reference()(model, prev_head, induction_head).AB
    with on_case(f"{describe_model(name)}, previous-token head (0, {prev_head}), induction head (1, {induction_head})"):
        out = call_with_model(submitted(), model, prev_head, induction_head)
        if not isinstance(out, FactoredMatrix):
            fail(f"Expected a FactoredMatrix, but got {type(out).__name__}. Keep the product factored: a tensor "
                 "@ FactoredMatrix (and FactoredMatrix @ FactoredMatrix) is again a FactoredMatrix.")
        if tuple(out.shape) != (d_vocab, d_vocab):
            fail(f"Your circuit has shape {tuple(out.shape)}; expected (d_vocab, d_vocab) = ({d_vocab}, {d_vocab}).")
        if out.mdim > d_head:
            fail(f"Your FactoredMatrix has inner dimension {out.mdim}, more than d_head = {d_head}: somewhere you "
                 "materialised a product (.AB, or a FactoredMatrix rebuilt from a full matrix). The circuit has rank "
                 "at most d_head, and its factors need be no wider.")
        with torch.no_grad():
            expect_matches(out.AB, expected, axes=["query token", "key-side token"], atol=1e-4, rtol=1e-3,
                           what="your QK circuit (as .AB)",
                           mistakes=lambda: _mistakes(model, prev_head, induction_head))
