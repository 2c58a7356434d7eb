"""Grader for ch3.single_token_names."""
import pytest

from circuitlab.ch3.grading_support import small_bpe_tokenizer
from circuitlab.ch3.ioi_setup import OFFLINE_MODEL_DIR
from circuitlab.grading.testing import fail, reference, run_learner, submitted
from circuitlab.models import load_tokenizer

# Known and unknown words for the word-level tokenizer; for the BPE one, names that are one token only after a
# space, only without one, or never; and names that contain one another (Ann, Anna, Annabel; Dan, Daniel; Jo, John).
NAMES = ["Mary", "John", "Ann", "Alice", "Bartholomew", "Anna", "Kate", "Xanthippe", "Tom", "Annabel", "Maximiliana",
         "Dan", "Leo", "Ruth", "Daniel", "Sophie", "Jo", "Gary", "Quentin"]


def _tokenizer(kind):
    return load_tokenizer(OFFLINE_MODEL_DIR) if kind == "word-level" else small_bpe_tokenizer()


def _one_id(tokenizer, text, **kwargs):
    return len(tokenizer.encode(text, **kwargs)) == 1


@pytest.mark.parametrize("kind", ["word-level", "byte-level BPE"])
def test_matches_reference(kind):
    """keeps exactly the names that are one known token after a space, in order"""
    tokenizer = _tokenizer(kind)
    got = run_learner(submitted(), list(NAMES), tokenizer, what=f"your single_token_names with the {kind} tokenizer")
    if not isinstance(got, (list, tuple)) or not all(isinstance(n, str) for n in got):
        fail(f"single_token_names should return a list of names (strings), but returned {got!r:.100}.")
    got = list(got)
    want = reference()(list(NAMES), tokenizer)
    if got == want:
        return
    unknown = tokenizer.unk_token_id
    counts_unknown = [n for n in NAMES if _one_id(tokenizer, " " + n, add_special_tokens=False)]
    no_space = [n for n in NAMES if _one_id(tokenizer, n, add_special_tokens=False)
                and tokenizer.encode(n, add_special_tokens=False)[0] != unknown]
    with_bos = [n for n in NAMES if _one_id(tokenizer, " " + n)]
    if got == counts_unknown and got != want:
        fail(f"You kept names the {kind} tokenizer does not know ({[n for n in got if n not in want]}): it encodes "
             f"each of them as its one unknown token (id {unknown}), which is no name's own token. Keep a name "
             "only when its single id is not tokenizer.unk_token_id.")
    if got == no_space:
        fail("You tokenised the names without a leading space. Inside a sentence a name follows a space, and "
             "a BPE tokenizer gives ' Mary' and 'Mary' different tokens: test ' ' + name.")
    if got == with_bos:
        fail("You counted the BOS token the tokenizer adds, so no name looks like one token: use "
             "add_special_tokens=False.")
    if sorted(got) == sorted(want):
        fail("You have the right names in a different order; keep the order of the input.")
    extra, missing = [n for n in got if n not in want], [n for n in want if n not in got]
    fail(f"With the {kind} tokenizer and the names {NAMES}, you kept {got}; the single-token names are {want} "
         f"(yours adds {extra} and misses {missing}).")


def test_repeats_and_empty():
    """keeps repeated names as often as they come, and an empty list gives an empty list"""
    tokenizer = _tokenizer("byte-level BPE")
    names = ["Anna", "Ann", "Anna", "Annabel"]
    got = run_learner(submitted(), list(names), tokenizer, what="your single_token_names on ['Anna', 'Ann', 'Anna', 'Annabel']")
    want = reference()(list(names), tokenizer)
    if not isinstance(got, (list, tuple)) or list(got) != want:
        fail(f"With the byte-level BPE tokenizer and the names {names} you kept {got!r:.100}; expected {want} "
             "(one entry per input name that qualifies, repeats included, in order).")
    empty = run_learner(submitted(), [], tokenizer, what="your single_token_names on an empty list")
    if not isinstance(empty, (list, tuple)) or len(empty) != 0:
        fail(f"An empty list of names should give an empty list; yours gave {empty!r:.100}.")
