"""Grader for ch3.single_token_names."""
import pytest

from circuitlab.ch3.grading_support import small_bpe_tokenizer
from circuitlab.ch3.ioi_setup import OFFLINE_MODEL_DIR
from circuitlab.grading.testing import fail, reference, run_learner, submitted
from circuitlab.models import load_tokenizer

NAMES = ["Mary", "John", "Alice", "Bartholomew", "Kate", "Xanthippe", "Tom", "Maximiliana", "Leo", "Ruth",
         "Sophie", "Gary", "Quentin"]


def _tokenizer(kind):
    return load_tokenizer(OFFLINE_MODEL_DIR) if kind == "word-level" else small_bpe_tokenizer()


@pytest.mark.parametrize("kind", ["word-level", "byte-level BPE"])
def test_matches_reference(kind):
    """keeps exactly the single-token names, in order"""
    tokenizer = _tokenizer(kind)
    got = run_learner(submitted(), list(NAMES), tokenizer)
    if not isinstance(got, (list, tuple)):
        fail(f"single_token_names should return a list of names, but returned {type(got).__name__}.")
    got = list(got)
    want = reference()(list(NAMES), tokenizer)
    if got == want:
        return
    no_space = [n for n in NAMES if len(tokenizer.encode(n, add_special_tokens=False)) == 1]
    with_bos = [n for n in NAMES if len(tokenizer.encode(" " + n)) == 1]
    if got == no_space:
        fail("You tokenised the names without a leading space. Inside a sentence a name follows a space, and "
             "a BPE tokenizer gives ' Mary' and 'Mary' different tokens: test ' ' + name.")
    if got == with_bos:
        fail("You counted the BOS token the tokenizer adds, so no name looks like one token: use "
             "add_special_tokens=False.")
    if sorted(got) == sorted(want):
        fail("You have the right names in a different order; keep the order of the input.")
    fail(f"With the {kind} tokenizer you kept {got}; the single-token names are {want}.")
