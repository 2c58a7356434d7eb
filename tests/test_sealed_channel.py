"""Every grader, through the sealed channel: the reference earns full marks and mistakes are still caught.

Sealed grading hands each grader proxies instead of the student's objects (see ``course/bridge.py``):
results come back as data joined to autograd, classes come back as mirrored modules, and the
objects a grader lends (models, caches, optimizers, generators, recorders) are rebuilt in the kernel
and mirrored back after each call. A grader check that only works in-process would make an honest
answer lose points, or let a mistake through, once grading is sealed. Here the kernel's half runs
in this process (``sealed_loopback``), so every exercise is held to the sealed path quickly: its
reference passes, and its mutants fail with their hints: up to three mutants about state the channel
has to carry back (gradients, hooks, weights, random state, train mode, in-place writes), or the
first mutant where there are none. The full kernel path is exercised end to end in
``test_nbgrader_class.py`` and ``test_autograde_chapters.py``.
"""
from __future__ import annotations

import re

import pytest

from circuitlab.grading.registry import exercises
from exercise_sources import mutants_and_alternatives
from sealed_loopback import Loopback

EXERCISES = list(exercises().values())
MAX_MUTANTS = 3  # per exercise: the suite's time goes where the channel's bugs would be
# Mistakes whose detection depends on what the channel carries besides the returned value.
STATEFUL = re.compile(r"hook|detach|connected|gradient|grad\b|backward|weights|parameter|random|generator|seed|"
                      r"train mode|eval|in place|in-place|wrote|changed|left|zero_grad|optimi[sz]er|twice|second",
                      re.IGNORECASE)


def _cases():
    for exercise in EXERCISES:
        mutants, _ = mutants_and_alternatives(exercise)
        stateful = [m for m in mutants if STATEFUL.search(m[2]) or STATEFUL.search(m[0])]
        yield pytest.param(exercise, stateful[:MAX_MUTANTS] or mutants[:1], id=exercise.id)


@pytest.mark.parametrize("exercise, mutants", list(_cases()))
def test_reference_passes_and_mutants_fail_through_the_channel(exercise, mutants):
    loopback = Loopback()
    result = loopback.check(exercise.id, exercise.reference_object())
    assert result.passed, f"{exercise.id}'s reference fails sealed ({loopback.channel.not_sealable}):\n{result.report()}"
    for name, mutant, hint in mutants:
        result = loopback.check(exercise.id, mutant)
        report = result.report()
        assert not result.passed, f"The mutant {name} of {exercise.id} passes when graded sealed."
        assert hint.lower() in report.lower(), f"Sealed, the mutant {name} lacks the hint {hint!r}:\n{report}"
