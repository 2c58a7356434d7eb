"""Generated notebooks are up to date with their masters, and learner notebooks hold no solutions."""
from __future__ import annotations

import json

import pytest

from circuitlab.authoring.build import BEGIN, END, build_all, masters, output_paths, solution_regions, strip_solutions
from exercise_sources import ROOT, expanded_master, master_cells

MASTERS = masters(ROOT)


def test_generated_notebooks_are_fresh():
    stale = [str(path.relative_to(ROOT)) for path, text in build_all(ROOT).items()
             if not path.exists() or path.read_text() != text]
    assert not stale, f"Stale generated notebooks (run `make notebooks` and commit): {stale}"


def _code_lines(notebook_path) -> set[str]:
    notebook = json.loads(notebook_path.read_text())
    lines = set()
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue  # the last, collapsed hint may spell out a line on purpose
        source = "".join(cell["source"])
        lines.update(line.strip() for line in source.splitlines())
    return lines


@pytest.mark.parametrize("master, chapter", MASTERS, ids=[m.stem for m, _ in MASTERS])
def test_learner_notebook_has_no_solution_code(master, chapter):
    learner = output_paths(ROOT, chapter.slug).learner
    text = learner.read_text()
    assert BEGIN not in text and END not in text
    notebook = json.loads(text)
    assert all(not cell.get("outputs") for cell in notebook["cells"] if cell["cell_type"] == "code"), \
        "Learner notebooks are shipped without outputs."
    learner_lines = _code_lines(learner)
    shared_lines = _lines_outside_solutions(master)
    for exercise_id, cells in master_cells().items():
        if cells.get("master") != master.name:
            continue
        for region in solution_regions(cells["solution"]):
            for line in region.splitlines():
                line = line.strip()
                # Short lines ("return x") and lines the master also has outside any solution (a loop
                # header in another exercise's scaffold) are not leaks.
                if len(line) > 30 and not line.startswith("#") and line not in shared_lines:
                    assert line not in learner_lines, f"{exercise_id}: solution line leaked: {line!r}"


def _lines_outside_solutions(master) -> set[str]:
    lines: set[str] = set()
    for cell in expanded_master(master):
        if cell.cell_type == "code" and not cell.metadata.get("solution_only"):
            lines.update(line.strip() for line in strip_solutions(cell.source).splitlines())
    return lines
