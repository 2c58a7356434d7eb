"""Progress: which exercises pass, in this session (``progress()``) or in a saved notebook."""
from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any

from circuitlab.grading.registry import exercises

CHECK_CALL = re.compile(r"""\b(?:check|grade)\(\s*["'](ch\d+\.[a-z0-9_]+)["']""")
STATUS_MARK = {"passed": "✅", "failed": "❌", "not_attempted": "⏳"}


def exercise_ids_in(notebook: dict[str, Any]) -> list[str]:
    """Exercise ids checked in a notebook, in order of appearance."""
    ids: list[str] = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") != "code":
            continue
        source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
        for found in CHECK_CALL.findall(source):
            if found not in ids:
                ids.append(found)
    return ids


def notebook_progress(path: str | os.PathLike, timeout: int = 900) -> dict[str, Any]:
    """Execute a learner notebook (in a copy; the file is never modified) and report each exercise.

    Returns ``{"notebook": path, "exercises": [{"id", "status"}]}`` with status ``passed``,
    ``failed`` or ``not_attempted``.
    """
    import nbformat
    from nbclient import NotebookClient

    from circuitlab.grading.engine import PROGRESS_LOG_VARIABLE
    from circuitlab.threads import child_environment

    path = Path(path)
    notebook = nbformat.read(path, as_version=4)
    ids = exercise_ids_in(notebook)
    with tempfile.TemporaryDirectory() as scratch:
        log = Path(scratch) / "progress.jsonl"
        log.touch()
        # The kernel is a process of its own: it learns where to log, and that idle OpenMP threads
        # should sleep rather than spin (circuitlab.threads), from its environment.
        kernel_env = {**os.environ, **child_environment(), PROGRESS_LOG_VARIABLE: str(log)}
        client = NotebookClient(
            notebook, timeout=timeout, allow_errors=True, kernel_name="python3",
            resources={"metadata": {"path": str(path.parent.resolve())}},
        )
        client.execute(env=kernel_env)
        statuses: dict[str, str] = {}
        for line in log.read_text().splitlines():
            entry = json.loads(line)
            statuses[entry["id"]] = entry["status"]
    return {
        "notebook": str(path),
        "exercises": [{"id": i, "status": statuses.get(i, "not_attempted")} for i in ids],
    }


CHAPTER_NOTEBOOK = re.compile(r"^\d\d_[A-Za-z0-9_]+\.ipynb$")


def chapter_notebooks_in(folder: str | os.PathLike) -> list[Path]:
    """The chapter notebooks (``NN_slug.ipynb``) directly inside ``folder``, in chapter order."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and CHAPTER_NOTEBOOK.match(p.name))


def folder_progress(folder: str | os.PathLike, timeout: int = 900) -> dict[str, Any]:
    """Progress for every chapter notebook in a folder (a learner's workspace); none is modified."""
    return {
        "folder": str(folder),
        "notebooks": [notebook_progress(path, timeout=timeout) for path in chapter_notebooks_in(folder)],
    }


def format_folder_progress(report: dict[str, Any]) -> str:
    notebooks = report["notebooks"]
    if not notebooks:
        return f"{report['folder']}: no chapter notebooks (NN_slug.ipynb) found."
    rows = [row for notebook in notebooks for row in notebook["exercises"]]
    done = sum(row["status"] == "passed" for row in rows)
    parts = [format_progress(notebook) for notebook in notebooks]
    parts.append(f"In all: {done} of {len(rows)} exercises pass in {len(notebooks)} chapter notebook(s).")
    return "\n\n".join(parts)


def format_progress(report: dict[str, Any]) -> str:
    rows = report["exercises"]
    done = sum(r["status"] == "passed" for r in rows)
    lines = [f"{report['notebook']}: {done} of {len(rows)} exercises pass"]
    registry = exercises()
    for row in rows:
        title = registry[row["id"]].title if row["id"] in registry else ""
        lines.append(f"  {STATUS_MARK[row['status']]} {row['id']:<32} {title}")
    return "\n".join(lines)


def progress(notebook: str | os.PathLike | None = None) -> dict[str, Any] | None:
    """Show which exercises pass.

    With no argument: the exercises checked in this session, grouped by chapter, beside the
    ones of those chapters not checked yet. With a notebook path: executes a copy and reports.
    """
    if notebook is not None:
        report = notebook_progress(notebook)
        print(format_progress(report))
        return report
    from circuitlab.grading.engine import SESSION_RESULTS

    if not SESSION_RESULTS:
        print("No exercise checked yet in this session. Run a check(...) cell first.")
        return None
    chapters = sorted({r.id.split(".")[0] for r in SESSION_RESULTS.values()})
    for chapter in chapters:
        ids = [i for i in exercises() if i.startswith(chapter + ".")]
        rows = [{"id": i, "status": SESSION_RESULTS[i].status if i in SESSION_RESULTS else "not_attempted"} for i in ids]
        print(format_progress({"notebook": f"chapter {chapter[2:]} (this session)", "exercises": rows}))
    return None
