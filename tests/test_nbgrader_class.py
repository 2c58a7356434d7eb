"""End to end: release chapter 0 into a temporary nbgrader course and autograde a class of 30.

One class is graded once (module fixture, 2 workers) and every test reads its results:
the reference, the untouched release, the Colab notebook handed in as is, each exercise's
first mutant, three kinds of tampering, an endless loop, a kernel that kills itself, and
copies of the reference (half of them zipped) to make up 30 students.
"""
from __future__ import annotations

import copy
import csv
import json
import re
import zipfile
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from circuitlab.authoring.build import remove_markers
from circuitlab.course.autograde import CRASHED, GRADED, TIMED_OUT, grade_class
from circuitlab.course.release import release, release_leaks
from circuitlab.grading.registry import exercises
from exercise_sources import ROOT, master_cells, mutants_and_alternatives, mutants_path

pytestmark = pytest.mark.slow

CHAPTER = "00_tools"
CLASS_SIZE = 30
# Long enough for a loaded machine to import torch in one cell; each endless loop costs one of these.
CELL_TIMEOUT = 60
EXERCISES = [e for e in exercises().values() if e.chapter == 0]


# --------------------------------------------------------------------------- building submissions


def grade_id_of(cell: dict[str, Any]) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def cell_with(notebook: dict[str, Any], grade_id: str) -> dict[str, Any]:
    return next(cell for cell in notebook["cells"] if grade_id_of(cell) == grade_id)


def answered(release_nb: dict[str, Any], answers: dict[str, str]) -> dict[str, Any]:
    """The release with the answer cell of each exercise in ``answers`` replaced."""
    notebook = copy.deepcopy(release_nb)
    for exercise_id, code in answers.items():
        cell_with(notebook, exercise_id.replace(".", "-"))["source"] = code
    return notebook


def reference_answers() -> dict[str, str]:
    return {e.id: remove_markers(master_cells()[e.id]["solution"]) for e in EXERCISES}


def mutant_answer(exercise) -> str:
    """An answer cell holding the exercise's first mutant, bound to the name the test cell hands in."""
    mutants, _ = mutants_and_alternatives(exercise)
    assert mutants, f"{exercise.id} has no mutants"
    handed_in = master_cells()[exercise.id]["handed_in"]
    return mutants_path(exercise).read_text(encoding="utf-8") + f"\n\n{handed_in} = {mutants[0][0]}\n"


def write(notebook: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1), encoding="utf-8")


def write_zip(notebook: dict[str, Any], archive: Path, inner: str) -> None:
    archive.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(inner, json.dumps(notebook, indent=1))


def special_submissions(release_nb: dict[str, Any]) -> dict[str, dict[str, Any]]:
    reference = answered(release_nb, reference_answers())
    first = EXERCISES[0]
    subs = {"reference": reference, "untouched": copy.deepcopy(release_nb)}
    for exercise in EXERCISES:
        subs[f"mutant-{exercise.name}"] = answered(reference, {exercise.id: mutant_answer(exercise)})

    deleted = answered(reference, {first.id: mutant_answer(first)})
    deleted["cells"].remove(cell_with(deleted, f"{first.grade_id}-test"))
    subs["tamper-deleted"] = deleted

    edited = answered(reference, {first.id: mutant_answer(first)})
    cell_with(edited, f"{first.grade_id}-test")["source"] = "pass  # all good"
    subs["tamper-edited"] = edited

    points = copy.deepcopy(reference)
    cell_with(points, f"{first.grade_id}-test")["metadata"]["nbgrader"]["points"] = 100
    subs["tamper-points"] = points

    loop = reference_answers()[first.id]
    subs["endless-loop"] = answered(reference, {first.id: "while True:\n    pass\n\n" + loop})
    subs["kernel-crash"] = answered(reference, {EXERCISES[1].id: "import os\n\nos._exit(1)\n"})
    return subs


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("nbgrader-class")
    course = work / "course"
    released = release(course, chapters=[CHAPTER], cell_timeout=CELL_TIMEOUT, validate=True, log=lambda line: None)
    release_nb = json.loads((course / "release" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    source_nb = json.loads((course / "source" / CHAPTER / f"{CHAPTER}.ipynb").read_text())

    subs_dir = work / "submissions"
    students = special_submissions(release_nb)
    for name, notebook in students.items():
        write(notebook, subs_dir / name / f"{CHAPTER}.ipynb")
    # Handed in straight from the learner's Colab notebook, solved: no nbgrader metadata at all.
    solved_learner = json.loads((ROOT / "solutions" / f"{CHAPTER}.ipynb").read_text())
    write(solved_learner, subs_dir / "colab-notebook" / "downloads" / f"{CHAPTER} (1).ipynb")
    students["colab-notebook"] = solved_learner
    reference = students["reference"]
    for number in range(CLASS_SIZE - len(students)):
        name = f"student{number:02d}"
        if number % 2:
            write_zip(reference, subs_dir / f"{name}.zip", f"{name}/{CHAPTER}.ipynb")
        else:
            write(reference, subs_dir / name / CHAPTER / f"{CHAPTER}.ipynb")
        students[name] = reference
    assert len(students) == CLASS_SIZE

    result = grade_class(subs_dir, course, work / "out", workers=2, cell_timeout=CELL_TIMEOUT,
                         log=lambda line: None)
    rows: dict[str, dict[str, dict[str, str]]] = {}
    for row in result.rows:
        rows.setdefault(row["student"], {})[row["exercise"]] = row
    return {"result": result, "rows": rows, "release": release_nb, "source": source_nb, "released": released,
            "students": students, "out": work / "out"}


def full_marks(row: dict[str, str]) -> bool:
    return row["status"] == GRADED and float(row["score"]) == float(row["max_score"])


def zero(row: dict[str, str]) -> bool:
    return row["status"] == GRADED and float(row["score"]) == 0.0


# --------------------------------------------------------------------------- release


def test_release_strips_solutions_and_validates(graded):
    assert release_leaks(graded["release"], graded["source"]) == []
    assert "validated" in graded["released"].validation[CHAPTER]


def test_release_marks_every_exercise_with_registry_points(graded):
    points = {grade_id_of(c): c["metadata"]["nbgrader"].get("points") for c in graded["release"]["cells"] if grade_id_of(c)}
    for exercise in EXERCISES:
        assert points[f"{exercise.grade_id}-test"] == exercise.points
        assert exercise.grade_id in points  # the answer cell


# --------------------------------------------------------------------------- scores


def test_reference_gets_full_marks(graded):
    for student in ("reference", "colab-notebook"):
        rows = graded["rows"][student]
        assert len(rows) == len(EXERCISES)
        assert all(full_marks(row) for row in rows.values()), (student, rows)


def test_untouched_release_gets_zero_everywhere(graded):
    rows = graded["rows"]["untouched"]
    assert len(rows) == len(EXERCISES)
    assert all(zero(row) for row in rows.values()), rows


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda e: e.id)
def test_each_mutant_loses_exactly_its_points(graded, exercise):
    rows = graded["rows"][f"mutant-{exercise.name}"]
    assert zero(rows[exercise.id]), rows[exercise.id]
    others = [row for name, row in rows.items() if name != exercise.id]
    assert all(full_marks(row) for row in others), others


def test_deleted_or_edited_test_cell_is_restored(graded):
    first = EXERCISES[0]
    for student in ("tamper-deleted", "tamper-edited"):
        rows = graded["rows"][student]
        assert zero(rows[first.id]), (student, rows[first.id])
        assert all(full_marks(row) for name, row in rows.items() if name != first.id), student
    assert "restored" in graded["rows"]["tamper-deleted"][first.id]["detail"]


def test_changed_points_are_ignored(graded):
    row = graded["rows"]["tamper-points"][EXERCISES[0].id]
    assert float(row["max_score"]) == EXERCISES[0].points
    assert float(row["score"]) == EXERCISES[0].points


# --------------------------------------------------------------------------- failures are named


def test_endless_loop_is_reported_as_timed_out(graded):
    rows = graded["rows"]["endless-loop"]
    first = EXERCISES[0]
    assert rows[first.id]["status"] == TIMED_OUT
    assert float(rows[first.id]["score"]) == 0.0
    assert all(full_marks(row) for name, row in rows.items() if name != first.id)


def test_kernel_crash_is_reported_not_a_silent_zero(graded):
    rows = graded["rows"]["kernel-crash"]
    assert {row["status"] for row in rows.values()} == {CRASHED}
    assert all(row["score"] == "" for row in rows.values())
    assert "kernel died" in rows[EXERCISES[0].id]["detail"]


def test_failures_do_not_stop_the_others(graded):
    copies = [name for name in graded["students"] if name.startswith("student")]
    assert copies
    for name in copies:
        assert all(full_marks(row) for row in graded["rows"][name].values()), name


# --------------------------------------------------------------------------- the table


def test_thirty_students_two_workers_nothing_lost_or_doubled(graded):
    result = graded["result"]
    assert set(graded["rows"]) == set(graded["students"])
    keys = [(r["student"], r["assignment"], r["exercise"]) for r in result.rows]
    assert len(keys) == CLASS_SIZE * len(EXERCISES)
    assert len(set(keys)) == len(keys)
    with open(graded["out"] / "grades.csv", newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert written == result.rows
    assert list(written[0]) == ["student", "assignment", "exercise", "score", "max_score", "status", "detail"]


# --------------------------------------------------------------------------- feedback


def _grader_lines() -> set[str]:
    """Distinctive lines of chapter 0's pytest graders: none may reach a student."""
    lines = set()
    for path in (ROOT / "utils" / "circuitlab" / "ch0" / "graders").glob("test_*.py"):
        for line in path.read_text().splitlines():
            if line.strip().startswith("def test_") or line.strip().startswith("expect_close("):
                lines.add(line.strip())
    return lines


def visible_text(html: str) -> str:
    """What a reader of the HTML sees: tags removed (syntax highlighting splits code into spans)."""
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_feedback_for_each_graded_student_shows_no_grader_code(graded):
    secret = _grader_lines()
    assert secret
    for student, rows in graded["rows"].items():
        feedback = graded["out"] / "feedback" / student / CHAPTER / f"{CHAPTER}.html"
        if any(row["status"] == CRASHED for row in rows.values()):
            assert not feedback.exists()
            continue
        text = visible_text(feedback.read_text(encoding="utf-8"))
        assert 'grade("ch0.' in text, student  # the visible test cells are there
        assert "HIDDEN TESTS" not in text
        assert not [line for line in secret if line in text], student
