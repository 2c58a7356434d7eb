"""Grader meta-tests: for every exercise the reference passes, the untouched stub fails, each
mutant fails with its intended hint, and each valid alternative passes."""
from __future__ import annotations

import pytest

from circuitlab.grading.engine import run_check
from circuitlab.grading.registry import exercises
from exercise_sources import master_cells, mutants_and_alternatives, mutants_path, stub_object

EXERCISES = list(exercises().values())


def _report(result) -> str:
    return result.report()


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_reference_passes(exercise):
    result = run_check(exercise.id, exercise.reference_object(), allow_reference=True, record=False)
    assert result.passed, _report(result)


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_untouched_stub_fails(exercise):
    result = run_check(exercise.id, stub_object(exercise), record=False)
    assert not result.passed, f"The stub of {exercise.id} passes its grader:\n{_report(result)}"
    assert result.status == "not_attempted", f"The stub should count as not attempted:\n{_report(result)}"


def _mutant_cases():
    for exercise in EXERCISES:
        mutants, _ = mutants_and_alternatives(exercise)
        for name, obj, hint in mutants:
            yield pytest.param(exercise, obj, hint, id=f"{exercise.id}-{name}")


def _alternative_cases():
    for exercise in EXERCISES:
        _, alternatives = mutants_and_alternatives(exercise)
        for name, obj in alternatives:
            yield pytest.param(exercise, obj, id=f"{exercise.id}-{name}")


@pytest.mark.parametrize("exercise, obj, hint", list(_mutant_cases()))
def test_mutant_fails_with_its_hint(exercise, obj, hint):
    result = run_check(exercise.id, obj, record=False)
    report = _report(result)
    assert not result.passed, f"A mutant of {exercise.id} passes its grader."
    assert hint.lower() in report.lower(), f"Expected the hint {hint!r} in the report:\n{report}"


@pytest.mark.parametrize("exercise, obj", list(_alternative_cases()))
def test_alternative_passes(exercise, obj):
    result = run_check(exercise.id, obj, record=False)
    assert result.passed, f"A valid alternative for {exercise.id} fails:\n{_report(result)}"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_every_exercise_is_complete(exercise):
    """An id leads to its master cells, reference, grader, hints and at least three mutants."""
    assert exercise.id in master_cells(), f"{exercise.id} has no solution/check cells in any master."
    cells = master_cells()[exercise.id]
    assert "solution" in cells and "handed_in" in cells, f"{exercise.id} lacks a solution or a check cell."
    assert exercise.grader_path.exists(), f"missing grader {exercise.grader_path}"
    exercise.reference_object()
    assert 1 <= len(exercise.hints) <= 3, f"{exercise.id} needs one to three hints."
    mutants, _ = mutants_and_alternatives(exercise)
    assert len(mutants) >= 3, f"{exercise.id} needs at least three mutants in {mutants_path(exercise)}."


def test_every_master_exercise_is_registered():
    unknown = sorted(set(master_cells()) - set(exercises()))
    assert not unknown, f"Exercise ids in masters without a registry entry: {unknown}"
