"""The `circuitlab` command line: exit codes and JSON shapes are a contract other tools rely on."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from circuitlab.grading.cli import main
from exercise_sources import ROOT


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "circuitlab.grading.cli", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)


@pytest.fixture()
def submission(tmp_path: Path) -> Path:
    path = tmp_path / "mine.py"
    path.write_text(textwrap.dedent("""
        import torch
        def good(q, k):
            return torch.einsum("bqhd,bkhd->bhqk", q, k) / q.shape[-1] ** 0.5
        def unscaled(q, k):
            return torch.einsum("bqhd,bkhd->bhqk", q, k)
    """))
    return path


def test_list_json_shape(capsys):
    assert main(["list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows and all(set(row) == {"id", "chapter", "title", "points"} for row in rows)
    assert any(row["id"] == "ch0.split_heads" and row["chapter"] == 0 for row in rows)


def test_check_pass_fail_and_json(submission, capsys):
    assert main(["check", "ch0.attention_scores", f"{submission}:good"]) == 0
    assert main(["check", "ch0.attention_scores", f"{submission}:unscaled", "--json"]) == 1
    payload = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert set(payload) == {"id", "passed", "tests"} and payload["passed"] is False
    assert all(set(t) == {"name", "passed", "message"} for t in payload["tests"])
    assert any("sqrt(d_head)" in t["message"] for t in payload["tests"])


@pytest.mark.parametrize("args", [
    ["check", "ch0.attention_scores", "missing.py:good"],
    ["check", "ch0.attention_scores", "no-colon"],
    ["check", "ch0.nothing", "x.py:y"],
    ["progress", "not-a-notebook.txt"],
    ["frobnicate"],
])
def test_usage_errors_exit_2(args, capsys):
    try:
        code = main(args)
    except SystemExit as exc:  # argparse's own usage errors
        code = exc.code
    assert code == 2


def test_missing_name_and_broken_file_exit_2(submission, tmp_path, capsys):
    assert main(["check", "ch0.attention_scores", f"{submission}:nothing_here"]) == 2
    assert "defines no 'nothing_here'" in capsys.readouterr().err
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\nraise ValueError('half-finished file')\n")
    assert main(["check", "ch0.attention_scores", f"{broken}:good"]) == 2
    assert "half-finished file" in capsys.readouterr().err


def test_installed_entry_point(submission):
    exe = Path(sys.executable).with_name("circuitlab")
    result = subprocess.run([str(exe), "check", "ch0.attention_scores", f"{submission}:good", "--json"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["passed"] is True


@pytest.mark.notebook
def test_progress_on_learner_and_solution_notebooks():
    untouched = run_cli("progress", "chapters/00_tools.ipynb", "--json")
    assert untouched.returncode == 0, untouched.stderr
    report = json.loads(untouched.stdout)
    assert set(report) == {"notebook", "exercises"}
    statuses = {row["id"]: row["status"] for row in report["exercises"]}
    assert statuses and set(statuses.values()) == {"not_attempted"}, statuses
    solved = json.loads(run_cli("progress", "solutions/00_tools.ipynb", "--json").stdout)
    assert {row["status"] for row in solved["exercises"]} == {"passed"}, solved
