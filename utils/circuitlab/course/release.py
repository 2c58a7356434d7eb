"""``circuitlab release OUT_DIR``: an nbgrader course with every chapter as an assignment.

The nbgrader source of each chapter is generated from its master (not copied from the
repository's ``course/source``, which may be stale), then ``nbgrader generate_assignment``
writes the student version to ``release/``. Before anything is written, every test cell is
checked for nbgrader's traps; after, every released notebook is checked for leaks.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from circuitlab.course import settings
from circuitlab.course.runner import run_nbgrader

HIDDEN_MARKERS = ("### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS")
SOLUTION_MARKERS = ("### BEGIN SOLUTION", "### END SOLUTION")


class ReleaseError(Exception):
    """The course cannot be released as asked; the message says why."""


@dataclass
class Released:
    course_dir: Path
    assignments: list[str] = field(default_factory=list)
    config_written: bool = False
    validation: dict[str, str] = field(default_factory=dict)  # assignment -> summary line


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else source


def nbgrader_meta(cell: dict[str, Any]) -> dict[str, Any]:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def is_test_cell(cell: dict[str, Any]) -> bool:
    meta = nbgrader_meta(cell)
    return bool(meta.get("grade")) and not meta.get("solution") and cell.get("cell_type") == "code"


def grade_cell_problem(source: str) -> str | None:
    """Why a test cell would grade wrongly under nbgrader, or None.

    nbgrader gives full points to a test cell that neither raises nor writes to stderr, so a
    cell whose last line is a bare comparison (``f(x) == 3``) passes whatever it evaluates to;
    and a number as the last value is read as partial credit.
    """
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        return f"is not valid Python ({exc.msg}, line {exc.lineno})"
    if not tree.body:
        return "is empty, so it would pass for everyone"
    last = tree.body[-1]
    if isinstance(last, ast.Expr):
        value = last.value
        is_grade_call = isinstance(value, ast.Call) and getattr(value.func, "id", None) == "grade"
        if not is_grade_call:
            return ("ends in a bare expression: nbgrader ignores its value (a False passes) or reads a number "
                    "as partial credit. End the cell with grade(...), which raises on failure")
    if not any(isinstance(node, ast.Call) and getattr(node.func, "id", None) == "grade" for node in ast.walk(tree)):
        return "does not call grade(...), so it checks nothing"
    return None


def lint_nbgrader_source(notebook: dict[str, Any], name: str) -> list[str]:
    problems = []
    for index, cell in enumerate(notebook["cells"]):
        if is_test_cell(cell):
            problem = grade_cell_problem(_source(cell))
            if problem:
                problems.append(f"{name}, test cell {nbgrader_meta(cell).get('grade_id')} (cell {index}) {problem}.")
            if not nbgrader_meta(cell).get("locked"):
                problems.append(f"{name}, test cell {nbgrader_meta(cell).get('grade_id')} is not locked.")
    return problems


def solution_lines(notebook: dict[str, Any]) -> set[str]:
    """Distinctive lines found only inside solution regions (a line that also appears outside
    them, such as a stub's setup line, is not a secret)."""
    inside_lines: set[str] = set()
    outside_lines: set[str] = set()
    for cell in notebook["cells"]:
        inside = False
        for line in _source(cell).splitlines():
            stripped = line.strip()
            if stripped == SOLUTION_MARKERS[0]:
                inside = True
            elif stripped == SOLUTION_MARKERS[1]:
                inside = False
            elif inside:
                inside_lines.add(stripped)
            else:
                outside_lines.add(stripped)
    return {line for line in inside_lines - outside_lines if len(line) > 30 and not line.startswith("#")}


def release_leaks(released: dict[str, Any], source: dict[str, Any]) -> list[str]:
    """What a released notebook shows that it must not: hidden tests, solutions, outputs."""
    leaks = []
    secret = solution_lines(source)
    for index, cell in enumerate(released["cells"]):
        text = _source(cell)
        for marker in HIDDEN_MARKERS + SOLUTION_MARKERS:
            if marker in text:
                leaks.append(f"cell {index} contains {marker!r}")
        for line in text.splitlines():
            if line.strip() in secret:
                leaks.append(f"cell {index} contains solution code: {line.strip()!r}")
        if cell.get("outputs"):
            leaks.append(f"cell {index} has outputs")
    return leaks


def chapter_sources(only: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Each chapter's nbgrader source notebook (as JSON), generated from its master, by slug."""
    from circuitlab.authoring.build import build_chapter, masters, repo_root, serialise

    found = {}
    for master, chapter in masters(repo_root()):
        if only and chapter.slug not in only:
            continue
        found[chapter.slug] = json.loads(serialise(build_chapter(master, chapter)["nbgrader"]))
    if only:
        unknown = sorted(set(only) - set(found))
        if unknown:
            known = ", ".join(sorted(c.stem for c, _ in masters(repo_root())))
            raise ReleaseError(f"No chapter named {', '.join(unknown)}. Chapters: {known}.")
    if not found:
        raise ReleaseError("No chapter masters found in masters/.")
    return found


def _check_target(course_dir: Path) -> None:
    if course_dir.exists() and not course_dir.is_dir():
        raise ReleaseError(f"{course_dir} exists and is not a directory.")
    if course_dir.is_dir() and any(course_dir.iterdir()):
        if not (course_dir / settings.CONFIG_FILE).exists() and not (course_dir / "source").is_dir():
            raise ReleaseError(
                f"{course_dir} is not empty and is not an nbgrader course (no {settings.CONFIG_FILE}, no source/). "
                "Choose a new directory, or an existing course to update."
            )


def validate_notebook(path: Path, invert: bool, cell_timeout: int) -> dict[str, Any]:
    """nbgrader's validator on one notebook: {} when it succeeds, else what failed (or passed, inverted)."""
    from traitlets.config import Config
    from nbgrader.validator import Validator

    config = Config({"Execute": {"timeout": cell_timeout, "kernel_name": settings.KERNEL_NAME}})
    return Validator(invert=invert, config=config).validate(str(path))


def release(course_dir: Path, chapters: list[str] | None = None, cell_timeout: int = settings.CELL_TIMEOUT,
            validate: bool = False, log=print) -> Released:
    """Write (or update) the nbgrader course in ``course_dir`` and release each chapter."""
    course_dir = Path(course_dir)
    _check_target(course_dir)
    sources = chapter_sources(chapters)
    problems = [p for slug, nb in sources.items() for p in lint_nbgrader_source(nb, slug)]
    if problems:
        raise ReleaseError("Test cells that nbgrader would grade wrongly:\n  " + "\n  ".join(problems))

    course_dir.mkdir(parents=True, exist_ok=True)
    result = Released(course_dir)
    result.config_written = settings.write_config(course_dir, cell_timeout)
    if not result.config_written:
        log(f"Keeping the existing {course_dir / settings.CONFIG_FILE}.")
    env = settings.kernel_environment()
    for slug, notebook in sources.items():
        source_path = course_dir / "source" / slug / f"{slug}.ipynb"
        source_path.parent.mkdir(parents=True, exist_ok=True)
        source_path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        finished = run_nbgrader(["generate_assignment", slug, "--force"], course_dir, env, limit=600,
                                log_file=course_dir / "logs" / f"release-{slug}.log")
        released_path = course_dir / "release" / slug / f"{slug}.ipynb"
        if finished.returncode != 0 or not released_path.exists():
            raise ReleaseError(f"nbgrader generate_assignment {slug} failed:\n{_tail(finished.log)}")
        leaks = release_leaks(json.loads(released_path.read_text(encoding="utf-8")), notebook)
        if leaks:
            raise ReleaseError(f"The released {slug} shows what learners must not see:\n  " + "\n  ".join(leaks))
        result.assignments.append(slug)
        log(f"released {slug}: {released_path}")
        if validate:
            result.validation[slug] = _validate_pair(source_path, released_path, cell_timeout)
            log(f"  {result.validation[slug]}")
    return result


def _validate_pair(source_path: Path, released_path: Path, cell_timeout: int) -> str:
    failed = validate_notebook(source_path, invert=False, cell_timeout=cell_timeout)
    if failed:
        cells = [c.get("source", "")[:60] for c in failed.get("failed", [])]
        raise ReleaseError(f"nbgrader validate: the source {source_path.name} fails its own tests: {cells or failed}")
    passing = validate_notebook(released_path, invert=True, cell_timeout=cell_timeout)
    if passing:
        cells = [c.get("source", "")[:60] for c in passing.get("passed", [])]
        raise ReleaseError(f"nbgrader validate --invert: tests pass on the untouched release: {cells or passing}")
    return "validated: the source passes every test; the untouched release passes none"


def _tail(text: str, lines: int = 15) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])
