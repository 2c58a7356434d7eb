"""Claims: tie each sentence a chapter says about a model to the measurement that backs it.

A chapter's prose describes the model in front of the reader ("the heads back each other up",
"the restricted loss is below the full loss"). A retrained checkpoint or a changed seed can make such
a sentence false without anything failing. Two tools keep the prose honest:

- ``describe`` prints the sentence that matches the measurement, so a shared cell says what *this*
  run shows (the learner's model included);
- ``claim`` asserts a sentence of the prose in a solution-only cell. It raises ``ClaimFailed`` when
  the measurement contradicts it, so executing the solution notebook (``make test``) fails.
"""
from __future__ import annotations

from collections.abc import Sequence

__all__ = ["ClaimFailed", "claim", "describe"]


class ClaimFailed(AssertionError):
    """A sentence of a chapter's prose is contradicted by the notebook's own measurement."""


def claim(holds: object, statement: str, measured: str = "") -> None:
    """Assert that ``statement`` (the prose's words) is true of the measurement; print it if so.

    ``holds`` is the condition computed from the measured values (a bool, or a one-element tensor);
    ``measured`` shows the numbers behind it, so a failure says what the notebook saw instead.
    """
    verdict = bool(holds)
    evidence = f" (measured: {measured})" if measured else ""
    if not verdict:
        raise ClaimFailed(f"The prose says: {statement!r}, but this run contradicts it{evidence}. "
                          "Change the prose, or find out why the model changed.")
    print(f"claim holds: {statement}{evidence}")


def describe(cases: Sequence[tuple[object, str]], otherwise: str) -> str:
    """Print and return the first sentence whose condition holds, else ``otherwise``.

    Each case is ``(condition, sentence)``; write the sentences with the measured numbers in them, so the
    printed text is the measurement put into words.
    """
    sentence = next((text for condition, text in cases if bool(condition)), otherwise)
    print(sentence)
    return sentence
