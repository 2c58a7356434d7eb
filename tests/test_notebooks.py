"""Every solution notebook runs top to bottom, offline, on the CPU."""
from __future__ import annotations

import os

import nbformat
import pytest
from nbclient import NotebookClient

from circuitlab.authoring.build import masters, output_paths
from exercise_sources import ROOT

MASTERS = masters(ROOT)
CELL_TIMEOUT = 900


@pytest.mark.notebook
@pytest.mark.parametrize("chapter", [c for _, c in MASTERS], ids=[c.slug for _, c in MASTERS])
def test_solution_notebook_runs_offline(chapter, tmp_path):
    path = output_paths(ROOT, chapter.slug).solution
    notebook = nbformat.read(path, as_version=4)
    assert os.environ.get("HF_HUB_OFFLINE") == "1"
    client = NotebookClient(notebook, timeout=CELL_TIMEOUT, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError, with the failing cell, on the first error
    failed_checks = [
        output.get("text", "")
        for cell in notebook.cells if cell.cell_type == "code" and "check(" in cell.source and "record=False" not in cell.source
        for output in cell.get("outputs", []) if output.get("output_type") == "stream"
        if "❌" in output.get("text", "") or "⏳" in output.get("text", "")
    ]
    assert not failed_checks, f"A check failed in the solution notebook:\n{failed_checks[0]}"
