"""Preparing one submitted notebook for nbgrader: readable, and with every graded cell in place.

nbgrader puts back a deleted test cell only after the answer cell before it, and crashes the
whole submission (a KeyError) when that answer cell is gone too, or when the learner handed in
the Colab notebook from ``chapters/`` (no nbgrader metadata at all). Restoring the release's
structure first turns both into an ordinary graded submission, and the restored cells are
reported so an instructor sees the tampering.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat

GRADED_CALL = re.compile(r"""\b(?:grade|check)\(\s*["'](ch\d+\.[A-Za-z0-9_]+)["']""")


class UnreadableNotebook(Exception):
    pass


@dataclass
class Prepared:
    notebook: Any
    restored: list[str] = field(default_factory=list)  # grade ids put back from the release
    matched_by_content: list[str] = field(default_factory=list)  # grade ids found without metadata


def read_notebook(path: Path) -> Any:
    try:
        notebook = nbformat.read(str(path), as_version=4)
    except Exception as exc:  # nbformat raises several types for bad JSON and bad schema
        raise UnreadableNotebook(f"{path.name} is not a readable notebook ({type(exc).__name__}: "
                                 f"{str(exc).splitlines()[0] if str(exc) else ''})") from None
    if not isinstance(notebook.get("cells"), list):
        raise UnreadableNotebook(f"{path.name} has no cells.")
    return notebook


def grade_id_of(cell: Any) -> str | None:
    meta = cell.get("metadata", {}).get("nbgrader")
    return meta.get("grade_id") if isinstance(meta, dict) else None


def _text(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def _first_code_line(source: str) -> str:
    for line in source.splitlines():
        if line.strip() and not line.strip().startswith("#"):
            return line.strip()
    return ""


def _content_match(release_cell: Any, candidates: list[tuple[int, Any]]) -> int | None:
    """The index of the learner's cell that plays this release cell's part, judged by its text."""
    called = GRADED_CALL.search(_text(release_cell))
    if called:  # a test cell: the learner's check("chN.name", ...) cell sits in its place
        wanted = called.group(1)
        for index, cell in candidates:
            found = GRADED_CALL.search(_text(cell))
            if found and found.group(1) == wanted:
                return index
        return None
    key = _first_code_line(_text(release_cell))  # an answer cell: its signature line, e.g. "def f(x):"
    if not key:
        return None
    for index, cell in candidates:
        if key in _text(cell):
            return index
    return None


def restore_structure(submitted: Any, release: Any) -> Prepared:
    """Give ``submitted`` every nbgrader cell of ``release``, in release order."""
    notebook = copy.deepcopy(submitted)
    prepared = Prepared(notebook)
    previous_index = -1
    for release_cell in release.cells:
        grade_id = grade_id_of(release_cell)
        if grade_id is None:
            continue
        index = next((i for i, c in enumerate(notebook.cells) if grade_id_of(c) == grade_id), None)
        if index is None:
            unmarked = [(i, c) for i, c in enumerate(notebook.cells)
                        if grade_id_of(c) is None and c.cell_type == release_cell.cell_type and i > previous_index]
            index = _content_match(release_cell, unmarked)
            if index is not None:
                notebook.cells[index].metadata["nbgrader"] = copy.deepcopy(release_cell.metadata["nbgrader"])
                prepared.matched_by_content.append(grade_id)
        if index is None:
            index = previous_index + 1
            notebook.cells.insert(index, copy.deepcopy(release_cell))
            prepared.restored.append(grade_id)
        previous_index = index
    # nbformat >= 4.5 requires unique cell ids; restored cells may repeat one.
    seen: set[str] = set()
    for position, cell in enumerate(notebook.cells):
        cell_id = cell.get("id")
        if cell_id is not None:
            if cell_id in seen:
                cell["id"] = f"restored-{position:03d}"
            seen.add(cell["id"])
    return prepared


def prepare(path: Path, release_path: Path, destination: Path) -> Prepared:
    """Read a submission, restore its graded cells, write it where nbgrader expects it."""
    submitted = read_notebook(path)
    release = nbformat.read(str(release_path), as_version=4)
    prepared = restore_structure(submitted, release)
    destination.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(prepared.notebook, str(destination))
    return prepared
