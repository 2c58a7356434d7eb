"""The claim helpers: a claim that the measurement contradicts must stop the notebook; describe prints
the sentence that matches the measurement."""
from __future__ import annotations

import pytest
import torch

from circuitlab.claims import ClaimFailed, claim, describe


def test_true_claim_prints_the_statement(capsys):
    claim(0.9 > 0.5, "the score is high", measured="0.90")
    assert "the score is high" in capsys.readouterr().out


def test_false_claim_raises_with_statement_and_measurement():
    with pytest.raises(ClaimFailed, match=r"the score is high.*measured: 0.10"):
        claim(0.1 > 0.5, "the score is high", measured="0.10")


def test_claim_is_an_assertion_error_and_accepts_tensors():
    assert issubclass(ClaimFailed, AssertionError)
    claim(torch.tensor(True), "a tensor condition")
    with pytest.raises(ClaimFailed):
        claim(torch.tensor(False), "a tensor condition")


def test_describe_picks_the_first_matching_sentence(capsys):
    assert describe([(False, "no"), (True, "yes"), (True, "also yes")], otherwise="none") == "yes"
    assert capsys.readouterr().out.strip() == "yes"
    assert describe([(False, "no")], otherwise="none") == "none"
