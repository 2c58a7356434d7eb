"""End to end on a model chapter: an honest student who hands in the published solutions gets full
marks on every exercise, graded sealed.

Chapter 1's release is cut after its first section (LayerNorm to attention): its exercises build
``nn.Module`` classes, whose checks load weights into them, run them in train and eval mode and
back-propagate through them, beside a function of tensors. All of it goes through the channel:
the classes are mirrored here as modules whose forward runs in the kernel.
"""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from circuitlab.course.autograde import GRADED, grade_class
from circuitlab.course.probe import SEALED
from circuitlab.course.release import SOLUTION_MARKERS, release
from circuitlab.course.sealed import IN_KERNEL_NOTE

pytestmark = pytest.mark.slow

CHAPTER = "01_transformer_from_scratch"
LAST_TEST = "ch1-attention-test"  # the release ends with this exercise's test cell


def _grade_id(cell: dict[str, Any]) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def _cut(path: Path) -> dict[str, Any]:
    """The notebook up to and including the last graded test cell kept, written back."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    last = next(i for i, cell in enumerate(notebook["cells"]) if _grade_id(cell) == LAST_TEST)
    notebook["cells"] = notebook["cells"][:last + 1]
    path.write_text(json.dumps(notebook), encoding="utf-8")
    return notebook


def _published_solutions(release_nb: dict[str, Any], source_nb: dict[str, Any]) -> dict[str, Any]:
    solutions = {_grade_id(c): "".join(c["source"]) for c in source_nb["cells"]
                 if c.get("metadata", {}).get("nbgrader", {}).get("solution")}
    notebook = copy.deepcopy(release_nb)
    for cell in notebook["cells"]:
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
            text = solutions[_grade_id(cell)]
            cell["source"] = "\n".join(l for l in text.splitlines() if l.strip() not in SOLUTION_MARKERS)
    return notebook


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("chapter-1")
    course = work / "course"
    release(course, chapters=[CHAPTER], log=lambda line: None)
    release_nb = _cut(course / "release" / CHAPTER / f"{CHAPTER}.ipynb")
    source_nb = _cut(course / "source" / CHAPTER / f"{CHAPTER}.ipynb")
    submission = work / "submissions" / "honest" / f"{CHAPTER}.ipynb"
    submission.parent.mkdir(parents=True)
    submission.write_text(json.dumps(_published_solutions(release_nb, source_nb)), encoding="utf-8")
    return grade_class(work / "submissions", course, work / "out", workers=1, log=lambda line: None)


def test_the_published_solutions_earn_full_marks_on_every_exercise(graded):
    split = {s.exercise: s.mode for s in graded.sealing[CHAPTER].values()}
    rows = [r for r in graded.rows if r["student"] == "honest"]
    assert len(rows) == 5
    short = [f"{r['exercise']} ({split[r['exercise']]}): {r['status']} {r['score']}/{r['max_score']} {r['detail']}"
             for r in rows if r["status"] != GRADED or float(r["score"] or -1) != float(r["max_score"])]
    assert not short, "\n".join(short)


def test_classes_and_functions_are_graded_sealed_and_reported(graded):
    split = {s.exercise: s.mode for s in graded.sealing[CHAPTER].values()}
    assert split["ch1.causal_mask"] == SEALED  # a function of tensors
    assert split["ch1.layer_norm"] == SEALED  # an nn.Module class whose gradients are checked
    assert set(split.values()) == {SEALED}, split
    for row in graded.rows:
        assert IN_KERNEL_NOTE not in row["detail"], row
    report = (graded.out_dir / "report.txt").read_text(encoding="utf-8")
    lines = report.splitlines()
    assert any(l.strip().startswith("sealed (5)") and "ch1.layer_norm" in l for l in lines), report
    assert any(l.strip().startswith("in the student's kernel, not sealed (0)") for l in lines), report
    recorded = json.loads((graded.out_dir / "sealing.json").read_text(encoding="utf-8"))
    assert {name: s["mode"] for name, s in recorded[CHAPTER].items()} == split
