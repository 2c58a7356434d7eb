"""A learner's work is never lost: regeneration, `make workspace` again, `git pull` and grading
leave the learner's copies in workspace/ byte for byte as they were."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from circuitlab.authoring import build
from circuitlab.grading import cli
from circuitlab.grading.progress import chapter_notebooks_in, folder_progress
from circuitlab.workspace import MANIFEST_NAME, main as workspace_main, make_workspace

REPO = Path(__file__).resolve().parents[1]
CHAPTER_ZERO = "00_tools"


def _write_generated(root: Path) -> None:
    """What `make notebooks` does, in a scratch repository."""
    for path, text in build.build_all(root).items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _scratch_repository(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "masters").mkdir(parents=True)
    shutil.copy(REPO / "masters" / f"{CHAPTER_ZERO}.py", root / "masters")
    shutil.copy(REPO / "pyproject.toml", root)
    _write_generated(root)
    return root


def _learner_edit(notebook_path: Path) -> bytes:
    """Fill in the first exercise stub the way a learner would, and add a note cell; return the bytes saved."""
    notebook = nbformat.read(notebook_path, as_version=4)
    stub = next(c for c in notebook.cells if c.cell_type == "code" and "raise NotImplementedError()" in c.source)
    stub.source = stub.source.replace("raise NotImplementedError()", "return x.reshape(*x.shape[:-1], n_heads, -1)")
    notebook.cells.append(nbformat.v4.new_markdown_cell("My notes: reshape works as well as rearrange here."))
    nbformat.write(notebook, notebook_path)
    return notebook_path.read_bytes()


def test_first_run_copies_every_chapter_and_says_so(tmp_path, capsys):
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    for name in ("00_tools.ipynb", "01_transformer.ipynb"):
        (chapters / name).write_text("{}")
    assert workspace_main(["--chapters", str(chapters), "--into", str(tmp_path / "workspace")]) == 0
    out = capsys.readouterr().out
    assert "Copied 2 chapter notebook(s)" in out
    assert "+ 00_tools.ipynb" in out and "+ 01_transformer.ipynb" in out
    assert sorted(p.name for p in (tmp_path / "workspace").glob("*.ipynb")) == ["00_tools.ipynb", "01_transformer.ipynb"]


def test_existing_files_are_kept_whatever_they_contain(tmp_path, capsys):
    chapters, workspace = tmp_path / "chapters", tmp_path / "workspace"
    chapters.mkdir()
    workspace.mkdir()
    (chapters / "00_tools.ipynb").write_text('{"fresh": true}')
    (chapters / "01_transformer.ipynb").write_text('{"fresh": true}')
    (workspace / "00_tools.ipynb").write_bytes(b"")  # even an empty (broken) file is the learner's
    assert workspace_main(["--chapters", str(chapters), "--into", str(workspace)]) == 0
    out = capsys.readouterr().out
    assert (workspace / "00_tools.ipynb").read_bytes() == b""
    assert (workspace / "01_transformer.ipynb").read_text() == '{"fresh": true}'
    assert "= 00_tools.ipynb" in out and "never overwritten" in out
    assert "+ 01_transformer.ipynb" in out


def test_chapter_updated_since_the_copy_is_reported_and_the_copy_kept(tmp_path):
    chapters, workspace = tmp_path / "chapters", tmp_path / "workspace"
    chapters.mkdir()
    (chapters / "00_tools.ipynb").write_text('{"version": 1}')
    make_workspace(chapters, workspace)
    (chapters / "00_tools.ipynb").write_text('{"version": 2}')
    report = make_workspace(chapters, workspace)
    assert report.updated_upstream == ["00_tools.ipynb"] and report.copied == []
    assert (workspace / "00_tools.ipynb").read_text() == '{"version": 1}'
    assert "has been updated since you copied it" in "\n".join(report.lines(chapters, workspace))


def test_bad_input_gets_a_clear_message_and_changes_nothing(tmp_path, capsys):
    assert workspace_main(["--chapters", str(tmp_path / "missing"), "--into", str(tmp_path / "ws")]) == 2
    assert "No chapters folder" in capsys.readouterr().err
    assert not (tmp_path / "ws").exists()
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    (chapters / "00_tools.ipynb").write_text("{}")
    not_a_folder = tmp_path / "ws_file"
    not_a_folder.write_text("learner's file")
    assert workspace_main(["--chapters", str(chapters), "--into", str(not_a_folder)]) == 2
    assert "is not a folder" in capsys.readouterr().err
    assert not_a_folder.read_text() == "learner's file"


def test_a_corrupt_manifest_loses_nothing(tmp_path):
    chapters, workspace = tmp_path / "chapters", tmp_path / "workspace"
    chapters.mkdir()
    workspace.mkdir()
    (chapters / "00_tools.ipynb").write_text("{}")
    (workspace / MANIFEST_NAME).write_text("not json")
    (workspace / "00_tools.ipynb").write_text("mine")
    report = make_workspace(chapters, workspace)
    assert report.kept == ["00_tools.ipynb"]
    assert (workspace / "00_tools.ipynb").read_text() == "mine"


def test_regenerating_and_rerunning_the_workspace_never_touch_learner_edits(tmp_path):
    root = _scratch_repository(tmp_path)
    chapters, workspace = root / "chapters", root / "workspace"
    assert make_workspace(chapters, workspace).copied == [f"{CHAPTER_ZERO}.ipynb"]
    mine = workspace / f"{CHAPTER_ZERO}.ipynb"
    saved = _learner_edit(mine)

    # The author changes the master and runs `make notebooks`: chapters/ really changes.
    master = root / "masters" / f"{CHAPTER_ZERO}.py"
    master.write_text(master.read_text() + "\n# %% [markdown]\n# A paragraph added in an update.\n")
    before = (chapters / f"{CHAPTER_ZERO}.ipynb").read_bytes()
    _write_generated(root)
    assert (chapters / f"{CHAPTER_ZERO}.ipynb").read_bytes() != before

    report = make_workspace(chapters, workspace)  # `make workspace` / `make lab` again
    assert report.kept == [f"{CHAPTER_ZERO}.ipynb"] and report.updated_upstream == [f"{CHAPTER_ZERO}.ipynb"]
    assert mine.read_bytes() == saved
    assert build.output_paths(root, CHAPTER_ZERO).learner.parent == chapters  # the generator writes elsewhere


def _git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                          env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
                               "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(cwd), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_pull_never_touches_the_workspace(tmp_path):
    upstream = tmp_path / "upstream"
    (upstream / "chapters").mkdir(parents=True)
    shutil.copy(REPO / ".gitignore", upstream / ".gitignore")
    (upstream / "chapters" / "00_tools.ipynb").write_text('{"version": 1}')
    _git(upstream, "init", "-q", "-b", "main")
    _git(upstream, "add", ".")
    _git(upstream, "commit", "-q", "-m", "chapters")
    learner = tmp_path / "learner"
    _git(tmp_path, "clone", "-q", str(upstream), str(learner))

    make_workspace(learner / "chapters", learner / "workspace")
    mine = learner / "workspace" / "00_tools.ipynb"
    mine.write_text('{"version": 1, "my work": true}')
    assert _git(learner, "check-ignore", "workspace/00_tools.ipynb").strip() == "workspace/00_tools.ipynb"

    (upstream / "chapters" / "00_tools.ipynb").write_text('{"version": 2}')
    _git(upstream, "commit", "-q", "-am", "update")
    _git(learner, "pull", "-q", "--ff-only")
    assert (learner / "chapters" / "00_tools.ipynb").read_text() == '{"version": 2}'
    assert mine.read_text() == '{"version": 1, "my work": true}'


def test_no_tracked_file_lives_in_the_workspace():
    """A pull can only write where the repository tracks files; workspace/ must stay untracked."""
    if not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = subprocess.run(["git", "ls-files", "workspace"], cwd=REPO, capture_output=True, text=True).stdout
    assert tracked.strip() == ""
    assert "workspace/" in (REPO / ".gitignore").read_text().split()


def _tiny_chapter_notebook(path: Path) -> None:
    """A chapter-shaped notebook with one solved exercise and one untouched stub (fast to execute)."""
    cells = [
        nbformat.v4.new_code_cell("from circuitlab import check\nfrom einops import rearrange"),
        nbformat.v4.new_code_cell(
            "def split_heads(x, n_heads):\n"
            "    return rearrange(x, 'b p (h d) -> b p h d', h=n_heads)"
        ),
        nbformat.v4.new_code_cell('check("ch0.split_heads", split_heads)'),
        nbformat.v4.new_code_cell("def average_pattern(pattern):\n    raise NotImplementedError()"),
        nbformat.v4.new_code_cell('check("ch0.average_pattern", average_pattern)'),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)


@pytest.mark.slow
def test_progress_on_a_workspace_folder_reports_each_chapter_and_modifies_nothing(tmp_path, capsys):
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    notebook = workspace / "00_tools.ipynb"
    _tiny_chapter_notebook(notebook)
    (workspace / "scratch.ipynb").write_text("{}")  # not a chapter notebook: ignored
    saved = notebook.read_bytes()
    assert [p.name for p in chapter_notebooks_in(workspace)] == ["00_tools.ipynb"]

    assert cli.main(["progress", str(workspace), "--json"]) == cli.EXIT_PASS
    report = json.loads(capsys.readouterr().out)
    statuses = {row["id"]: row["status"] for row in report["notebooks"][0]["exercises"]}
    assert statuses == {"ch0.split_heads": "passed", "ch0.average_pattern": "not_attempted"}
    assert notebook.read_bytes() == saved  # grading ran on a copy


def test_progress_on_an_empty_folder_says_so(tmp_path, capsys):
    assert folder_progress(tmp_path)["notebooks"] == []
    assert cli.main(["progress", str(tmp_path)]) == cli.EXIT_PASS
    assert "no chapter notebooks" in capsys.readouterr().out


def test_progress_on_something_else_is_a_usage_error(tmp_path, capsys):
    other = tmp_path / "notes.txt"
    other.write_text("not a notebook")
    assert cli.main(["progress", str(other)]) == cli.EXIT_USAGE
    assert "notebook file (.ipynb) or a folder" in capsys.readouterr().err


def test_workspace_runs_as_a_module_from_the_repository(tmp_path):
    """`make workspace` runs `python -m circuitlab.workspace` from the repository root."""
    chapters = tmp_path / "chapters"
    chapters.mkdir()
    (chapters / "00_tools.ipynb").write_text("{}")
    done = subprocess.run([sys.executable, "-m", "circuitlab.workspace"], cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "workspace" / "00_tools.ipynb").exists()
    assert "+ 00_tools.ipynb" in done.stdout
