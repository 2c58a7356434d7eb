"""Feedback for a student: their executed notebook with each exercise's report and score, as HTML.

Nothing of the instructor's machine is shown: absolute paths (the installation, the course, the
grading folders, the home folder) are replaced before rendering, and hidden-test regions are
removed; a page that would still show one is withheld.
"""
from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

import nbformat

SITE_PACKAGES = re.compile(r"(?:/|[A-Za-z]:\\)[^\s'\"()<>]*?[/\\](?:site|dist)-packages[/\\]")
ANY_ABSOLUTE = re.compile(r"(?<![\w.])/(?:home|Users|root|tmp|var|opt|srv|work|mnt|private)/[^\s'\"()<>:]*")


def instructor_paths(extra: list[Path]) -> list[str]:
    import circuitlab

    roots = [Path(circuitlab.__file__).resolve().parents[1], Path(sys.prefix).resolve(), Path.home(), *extra]
    found = {str(Path(p).resolve()) for p in roots} | {str(p) for p in roots}
    return sorted((p for p in found if len(p) > 1), key=len, reverse=True)


def scrub(text: str, paths: list[str]) -> str:
    """The text with every instructor path made relative or removed."""
    text = SITE_PACKAGES.sub("", text)
    for path in paths:
        text = text.replace(path + os.sep, "").replace(path, "…")
    return ANY_ABSOLUTE.sub("…", text)


def _scrub_cell(cell: Any, paths: list[str]) -> None:
    from circuitlab.course.autograde import strip_hidden_tests

    cell.source = scrub(strip_hidden_tests(cell.source), paths)
    for output in cell.get("outputs", []):
        if "text" in output:
            output["text"] = scrub(output["text"] if isinstance(output["text"], str) else "".join(output["text"]), paths)
        if "traceback" in output:
            output["traceback"] = [scrub(line, paths) for line in output["traceback"]]
        if "evalue" in output:
            output["evalue"] = scrub(output["evalue"], paths)
        for mime, value in list(output.get("data", {}).items()):
            if isinstance(value, str) and mime.startswith("text/"):
                output["data"][mime] = scrub(value, paths)


def _score_lines(outcome: Any, assignment: Any) -> str:
    lines = [f"# Feedback: {assignment.name}", "", "| exercise | score | status |", "|---|---|---|"]
    for exercise in assignment.exercises:
        score = outcome.scores.get(exercise.test_id)
        shown = "—" if score is None else f"{score:g}"
        status = outcome.exercise_status.get(exercise.test_id, outcome.status)
        lines.append(f"| {exercise.exercise} | {shown} / {exercise.max_score:g} | {status} |")
    return "\n".join(lines)


def write_feedback(executed: Path, outcome: Any, assignment: Any, folder: Path, extra_paths: list[Path]) -> Path | None:
    """Render ``executed`` as the student's feedback page; None when it is withheld."""
    from nbconvert import HTMLExporter

    from circuitlab.course.autograde import feedback_leaks

    paths = instructor_paths(extra_paths)
    notebook = nbformat.read(str(executed), as_version=4)
    for cell in notebook.cells:
        _scrub_cell(cell, paths)
    notebook.cells.insert(0, nbformat.v4.new_markdown_cell(_score_lines(outcome, assignment)))
    import warnings

    with warnings.catch_warnings():  # plotly outputs have no static form; the page says so itself
        warnings.simplefilter("ignore")
        html, _ = HTMLExporter(template_name="classic").from_notebook_node(notebook)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / (Path(assignment.notebook).stem + ".html")
    if feedback_leaks(html):
        outcome.detail = "; ".join(p for p in (outcome.detail, "feedback withheld: it would show hidden tests") if p)
        return None
    target.write_text(html, encoding="utf-8")
    return target
