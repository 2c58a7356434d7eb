"""Grader for ch3.ioi_prompts."""
import pytest

from circuitlab.data import ioi
from circuitlab.grading.testing import expect, fail, reference, run_learner, submitted

CASES = [
    (ioi.TEMPLATES[0], "Mary", "John", "Kate", "ABBA", "store", "drink"),
    (ioi.TEMPLATES[0], "Mary", "John", "Kate", "BABA", "store", "drink"),
    (ioi.TEMPLATES[5], "Alice", "Bob", "Emma", "BABA", "park", "book"),
    (ioi.TEMPLATES[12], "Tom", "Lucy", "Sam", "ABBA", "garden", "key"),
    (ioi.TEMPLATES[21], "Anna", "Paul", "Ruth", "BABA", "museum", "ring"),
    # Names inside other names: a search-and-replace on the text finds "Ann" inside "Anna" and "Dan" in "Daniel".
    (ioi.TEMPLATES[3], "Anna", "Ann", "Annabel", "ABBA", "park", "pen"),
    (ioi.TEMPLATES[3], "Anna", "Ann", "Annabel", "BABA", "park", "pen"),
    (ioi.TEMPLATES[7], "Dan", "Daniel", "Danny", "BABA", "lake", "hat"),
    (ioi.DISTRACTOR_TEMPLATES[0].replace("{C}", "Jo"), "John", "Jo", "Joe", "ABBA", "house", "card"),
]


def _as_pair(value, case):
    if not isinstance(value, (tuple, list)) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        fail(f"make_ioi_prompt{case[1:5]} should return a tuple of two strings (clean, corrupt), "
             f"but returned {value!r:.120}.")
    return tuple(value)


@pytest.mark.parametrize("case", CASES, ids=[f"{c[4]}-{i}" for i, c in enumerate(CASES)])
def test_matches_reference(case):
    """clean and ABC-corrupted prompts for ABBA and BABA orders"""
    template, io, s, c, order, place, obj = case
    got = _as_pair(run_learner(submitted(), *case, what=f"your make_ioi_prompt{case[1:5]}"), case)
    want = reference()(*case)
    if got == want:
        return
    swapped = reference()(template, io, s, c, "BABA" if order == "ABBA" else "ABBA", place, obj)
    first, second = (io, s) if order == "ABBA" else (s, io)
    if got[0] == swapped[0]:
        fail(f"The orders are swapped: in {order} order the first clause names "
             f"{'IO' if order == 'ABBA' else 'S'} first ({first!r} and {second!r}).")
    expect(got[0] == want[0], f"The clean prompt is {got[0]!r}; expected {want[0]!r}.")
    if got[1] == got[0]:
        fail("The corrupted prompt is identical to the clean one: the second mention of S must become C.")
    s1_replaced = template.format(A=c if first == s else first, B=c if second == s else second, S=s, P=place, O=obj)
    io_replaced = template.format(A=c if first == io else first, B=c if second == io else second, S=s, P=place, O=obj)
    if got[1] == s1_replaced:
        fail("You replaced the first mention of S (in the first clause); ABC corruption replaces the second "
             "mention of S, in the second clause.")
    if got[1] == io_replaced:
        fail("You replaced IO with C; ABC corruption replaces the second mention of S.")
    nested = [(a, b) for a in (io, s, c) for b in (io, s, c) if a != b and a in b]
    if nested:
        inner, outer = nested[0]
        fail(f"The corrupted prompt is {got[1]!r}; expected {want[1]!r}. Here one name contains another "
             f"({inner!r} is inside {outer!r}): a search for the text of a name also finds it inside the longer "
             "name. Fill the template's {S} slot with C instead of editing the filled text.")
    fail(f"The corrupted prompt is {got[1]!r}; expected {want[1]!r}.")
