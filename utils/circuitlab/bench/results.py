"""The results file, ``bench/results.json``: its shape, its validation, and merging partial runs.

Top level::

    schema, generated_at, command, quick, complete, machine,
    <one key per figure, see FIGURES>,
    sections: {name: {status, reason, seconds, measured_at, load_average, threads, quick, details}}

A figure is a number, a mapping of names to numbers (per chapter, per exercise), or ``null``;
when it is ``null`` its section's ``reason`` says why. Nothing is ever left out silently.
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

SCHEMA = 1

# The benchmark's sections, in the order they run: what learners wait for first; grading a
# class goes last, being the longest (thirty notebook executions).
SECTIONS = ("notebooks", "checks", "grok", "induction", "tms", "sae", "threads", "install", "autograde")

# Each figure the issue asks for, and the section that measures it.
FIGURES = {
    "notebook_seconds": "notebooks",
    "notebook_peak_mb": "notebooks",
    "check_ms": "checks",
    "grok": "grok",
    "induction": "induction",
    "tms_sweep_seconds": "tms",
    "sae_seconds": "sae",
    "autograde_seconds_per_notebook": "autograde",
    "class_of_30_seconds": "autograde",
    "install_seconds": "install",
    "threads": "threads",
}

# ok: measured. unavailable: the chapter or function does not exist (yet). error: it raised.
# skipped: not run in this mode (--quick). not_run: left out with --only and never measured before.
STATUSES = ("ok", "unavailable", "error", "skipped", "not_run")


class ResultsFileProblem(Exception):
    """An existing results file that cannot be merged into (it is left untouched)."""


def figures_of(section: str) -> list[str]:
    return [figure for figure, owner in FIGURES.items() if owner == section]


def _not_run() -> dict[str, Any]:
    return {"status": "not_run", "reason": "not measured yet", "seconds": None, "measured_at": None,
            "load_average": None, "threads": None, "quick": False, "details": {}}


def empty_results() -> dict[str, Any]:
    results: dict[str, Any] = {"schema": SCHEMA, "generated_at": None, "command": None, "quick": False,
                               "complete": False, "machine": {}}
    for figure in FIGURES:
        results[figure] = None
    results["sections"] = {name: _not_run() for name in SECTIONS}
    return results


def _with_new_sections(existing: Any) -> Any:
    """A results file written before a section existed, with that section as never run (and its figures null)."""
    if isinstance(existing, dict) and isinstance(existing.get("sections"), dict):
        added = [name for name in SECTIONS if name not in existing["sections"]]
        for name in added:
            existing["sections"][name] = _not_run()
            for figure in figures_of(name):
                existing.setdefault(figure, None)
        if added and "complete" in existing:
            existing["complete"] = False
    return existing


def load_for_merge(path: Path) -> dict[str, Any]:
    """The existing results at ``path`` (to keep the sections this run does not measure).

    A missing file gives empty results; a file that is not a valid results file raises
    ``ResultsFileProblem`` so that the caller can stop before overwriting it.
    """
    if not path.exists():
        return empty_results()
    try:
        existing = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultsFileProblem(f"{path} exists but is not readable JSON ({exc}).") from None
    existing = _with_new_sections(existing)
    problems = validate(existing)
    if problems:
        raise ResultsFileProblem(f"{path} exists but is not a Circuit Lab results file: {problems[0]}")
    return existing


def merge_section(results: dict[str, Any], section: str, record: dict[str, Any], figures: dict[str, Any]) -> None:
    """Put one section's record and figures into ``results``, replacing what it held before."""
    results["sections"][section] = record
    for figure in figures_of(section):
        results[figure] = figures.get(figure)


def is_complete(results: dict[str, Any]) -> bool:
    return all(results["sections"][name]["status"] == "ok" for name in SECTIONS)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _figure_problem(name: str, value: Any) -> str | None:
    """None if ``value`` is a well-formed figure: null, a number, or (nested) mappings of those."""
    if value is None or _is_number(value) or isinstance(value, bool):
        return None
    if isinstance(value, dict):
        for key, inner in value.items():
            if not isinstance(key, str):
                return f"{name} has a non-string key {key!r}"
            problem = _figure_problem(f"{name}.{key}", inner)
            if problem:
                return problem
        return None
    return f"{name} is {value!r}, neither a number, a mapping of numbers, nor null"


def validate(results: Any) -> list[str]:
    """Every problem with a results file's shape, as sentences (an empty list: well-formed)."""
    if not isinstance(results, dict):
        return ["the file does not hold a JSON object"]
    problems: list[str] = []
    if results.get("schema") != SCHEMA:
        problems.append(f"schema is {results.get('schema')!r}, expected {SCHEMA}")
    for key in ("generated_at", "machine", "sections", "quick", "complete", *FIGURES):
        if key not in results:
            problems.append(f"the key {key!r} is missing")
    if problems:
        return problems
    if not isinstance(results["machine"], dict):
        problems.append("machine is not an object")
    sections = results["sections"]
    if not isinstance(sections, dict) or set(sections) != set(SECTIONS):
        return problems + [f"sections must name exactly {', '.join(SECTIONS)}"]
    for name, record in sections.items():
        if not isinstance(record, dict):
            problems.append(f"section {name} is not an object")
            continue
        status = record.get("status")
        if status not in STATUSES:
            problems.append(f"section {name} has status {status!r}, not one of {', '.join(STATUSES)}")
        if status != "ok" and not record.get("reason"):
            problems.append(f"section {name} is {status} but gives no reason")
        if record.get("seconds") is not None and not _is_number(record["seconds"]):
            problems.append(f"section {name} has seconds {record['seconds']!r}")
        if not isinstance(record.get("details", {}), dict):
            problems.append(f"section {name} has details that are not an object")
    for figure, owner in FIGURES.items():
        problem = _figure_problem(figure, results[figure])
        if problem:
            problems.append(problem)
        elif results[figure] is None and sections.get(owner, {}).get("status") == "ok" \
                and not sections[owner].get("reason"):
            problems.append(f"{figure} is null although its section {owner} is ok, with no reason given")
    if results["complete"] is not is_complete(results):
        problems.append("complete does not match the sections' statuses")
    return problems


def write(results: dict[str, Any], path: Path) -> None:
    """Write atomically: a crash mid-write must not leave half a file in place of the last good run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    partial.replace(path)
