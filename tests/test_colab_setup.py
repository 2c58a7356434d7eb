"""Colab: the learner notebooks' link and setup cell, run as Colab would run them.

Colab has no checkout of this repository: the setup cell installs the package, and everything
a check needs (graders, reference solutions, shipped checkpoints and tokenizers) must come from
the installed package. So the test builds the wheel, installs it into a fresh virtual
environment whose only other contents are the third-party dependencies, and runs the setup
cell and checks there, from a directory outside the repository.
"""
from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import nbformat
import pytest

from circuitlab.project import REPOSITORY, colab_url, install_spec

REPO = Path(__file__).resolve().parents[1]
PACKAGE_SOURCE = REPO / "utils" / "circuitlab"
NOT_SHIPPED = ("__pycache__",)


def _learner_notebooks() -> list[Path]:
    return sorted((REPO / "chapters").glob("*.ipynb"))


def _setup_cell(notebook: Path) -> str:
    cells = nbformat.read(notebook, as_version=4).cells
    setup = [c for c in cells if c.cell_type == "code" and "setup" in c.metadata.get("tags", [])]
    assert len(setup) == 1, f"{notebook.name} should have exactly one setup cell"
    assert cells.index(setup[0]) == 1, f"{notebook.name}: the setup cell should be the first code cell"
    return setup[0].source


@pytest.mark.parametrize("notebook", _learner_notebooks(), ids=lambda p: p.name)
def test_every_learner_notebook_opens_in_colab_and_sets_up_first(notebook):
    cells = nbformat.read(notebook, as_version=4).cells
    assert cells[0].cell_type == "markdown"
    assert f"]({colab_url(f'chapters/{notebook.name}')})" in cells[0].source, "the Colab link must open this notebook"
    setup = _setup_cell(notebook)
    assert f'%pip install --quiet "{install_spec()}"' in setup
    assert "env = setup()" in setup


def test_the_repository_address_is_written_only_in_project_py():
    """Links and the install line are generated from circuitlab/project.py, so moving the repository
    is a one-line change. Generated notebooks and the package metadata are the exceptions (Markdown
    prose is not checked: it cannot import the address)."""
    allowed = {Path("utils/circuitlab/project.py"), Path("pyproject.toml")}
    generated = ("chapters", "solutions", "course")
    listed = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode != 0:
        pytest.skip("not a git checkout")
    offenders = []
    for name in listed.stdout.splitlines():
        path = Path(name)
        if path in allowed or path.parts[0] in generated or path.suffix in (".md", ".ipynb"):
            continue
        file = REPO / path
        if file.is_file() and file.stat().st_size < 2_000_000 and REPOSITORY in file.read_text(errors="ignore"):
            offenders.append(name)
    assert not offenders, f"The repository address is written by hand in {offenders}; import it from circuitlab.project"


# --------------------------------------------------------------------------- a Colab-like environment


def _build_wheel(into: Path) -> Path:
    """Build the wheel from a copy of the package sources (the checkout itself is left untouched)."""
    source = into / "source"
    source.mkdir()
    shutil.copy(REPO / "pyproject.toml", source)
    for name in ("README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy(REPO / name, source)
        else:
            (source / name).write_text("Circuit Lab\n")
    shutil.copytree(REPO / "utils", source / "utils", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    # Build with the setuptools already installed when there is one (fast, offline); otherwise let pip
    # fetch the build requirements from the package index.
    isolation = [] if importlib.util.find_spec("setuptools") is None else ["--no-build-isolation"]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "--quiet", "-w", str(into / "dist"),
         str(source)], capture_output=True, text=True,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (into / "dist").glob("circuitlab-*.whl")
    return wheel


def _fresh_environment(into: Path, wheel: Path) -> Path:
    """A venv holding only the wheel, plus (through a .pth line) the third-party packages already installed
    here. Lines in that .pth add a folder to sys.path but do not run the .pth files inside it, so the
    editable install of the checkout stays invisible."""
    venv = into / "colab"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    site_packages = Path(subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True, text=True, check=True).stdout.strip())
    (site_packages / "_third_party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet",
         str(wheel)], capture_output=True, text=True,
    )
    assert installed.returncode == 0, installed.stdout + installed.stderr
    return python


@pytest.fixture(scope="module")
def colab(tmp_path_factory):
    scratch = tmp_path_factory.mktemp("colab")
    wheel = _build_wheel(scratch)
    return {"wheel": wheel, "python": _fresh_environment(scratch, wheel), "home": scratch}


def _run_in(colab: dict, script: str) -> dict:
    """Run ``script`` in the fresh environment, from outside the repository; it prints JSON last."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "CIRCUITLAB_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    done = subprocess.run([str(colab["python"]), "-c", PRELUDE + textwrap.dedent(script)], cwd=colab["home"],
                          env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


# Runs first in the fresh environment: the setup cell exactly as written in chapter 0, with `%pip`
# recorded instead of executed (the network is out of reach), and a way to pretend to be on Colab.
PRELUDE = textwrap.dedent('''
    import importlib.machinery, json, sys, types

    def pretend_colab():
        for name in ("google", "google.colab"):
            module = types.ModuleType(name)
            module.__spec__ = importlib.machinery.ModuleSpec(name, None)  # libraries probe it with find_spec
            sys.modules[name] = module

    class RecordingShell:
        def __init__(self):
            self.magics = []
        def run_line_magic(self, name, line):
            self.magics.append(f"%{name} {line}")

    def run_setup_cell(cell_source):
        import contextlib, io
        from IPython.core.inputtransformer2 import TransformerManager
        shell = RecordingShell()
        namespace = {"get_ipython": lambda: shell}
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(TransformerManager().transform_cell(cell_source), namespace)
        env = namespace["env"]
        return {"magics": shell.magics, "printed": printed.getvalue(), "where": env.where, "device": env.device,
                "online": env.online, "names": sorted(k for k in ("check", "hint", "progress", "setup") if k in namespace)}
''')


def _setup_cell_of_chapter_zero() -> str:
    return _setup_cell(REPO / "chapters" / "00_tools.ipynb")


@pytest.fixture(scope="module")
def colab_run(colab):
    """One run in the fresh environment (imports are the slow part): the setup cell locally, then as on
    Colab, then checks and every shipped checkpoint."""
    return _run_in(colab, f'''
        local = run_setup_cell({_setup_cell_of_chapter_zero()!r})
        pretend_colab()
        on_colab = run_setup_cell({_setup_cell_of_chapter_zero()!r})

        import circuitlab
        from einops import rearrange
        from circuitlab import check
        from circuitlab.grading.registry import PACKAGE_ROOT, exercises
        from circuitlab.models import load_shipped, shipped_checkpoints

        def split_heads(x, n_heads):  # what a learner writes
            return rearrange(x, "b p (h d) -> b p h d", h=n_heads)
        def wrong_split_heads(x, n_heads):
            return rearrange(x, "b p (d h) -> b p h d", h=n_heads)
        good, bad = check("ch0.split_heads", split_heads), check("ch0.split_heads", wrong_split_heads)

        missing_graders = [e.id for e in exercises().values() if not e.grader_path.is_file()]
        loaded = {{}}
        for name in shipped_checkpoints():
            model = load_shipped(name)
            loaded[name] = sum(p.numel() for p in model.parameters())
        print(json.dumps({{"local": local, "colab": on_colab, "package": circuitlab.__file__, "path": sys.path,
                          "good": good.status, "bad": bad.status, "root": str(PACKAGE_ROOT),
                          "exercises": len(exercises()), "missing_graders": missing_graders, "loaded": loaded}}))
    ''')


def test_wheel_keeps_the_learners_torch(colab):
    """An exact torch pin would make Colab replace its own CUDA build; the requirement must be a range."""
    with zipfile.ZipFile(colab["wheel"]) as wheel:
        metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        requires = [line for line in wheel.read(metadata).decode().splitlines() if line.startswith("Requires-Dist: torch")]
    assert requires and all("==" not in line for line in requires), requires


def _package_files() -> list[Path]:
    """The package's files as the repository has them (tracked files; every file outside a git checkout)."""
    listed = subprocess.run(["git", "ls-files", "utils/circuitlab"], cwd=REPO, capture_output=True, text=True)
    if listed.returncode == 0 and listed.stdout.strip():
        return [REPO / line for line in listed.stdout.splitlines() if (REPO / line).is_file()]
    return [p for p in PACKAGE_SOURCE.rglob("*") if p.is_file()]


def test_wheel_ships_every_data_file_of_the_package(colab):
    """Graders, reference solutions, checkpoints (safetensors + JSON) and tokenizers must be inside the wheel."""
    expected = {
        p.relative_to(PACKAGE_SOURCE.parent).as_posix()
        for p in _package_files()
        if not any(part in NOT_SHIPPED for part in p.parts) and p.suffix != ".pyc"
    }
    with zipfile.ZipFile(colab["wheel"]) as wheel:
        shipped = set(wheel.namelist())
    missing = sorted(expected - shipped)
    assert not missing, f"Files of the package missing from the wheel (check package-data in pyproject.toml): {missing}"
    assert any(name.endswith(".safetensors") for name in shipped)
    assert any(re.search(r"/graders/test_\w+\.py$", name) for name in shipped)


@pytest.mark.slow
def test_setup_cell_on_colab_installs_the_package_and_reports_one_line(colab, colab_run):
    on_colab = colab_run["colab"]
    assert on_colab["magics"] == [f'%pip install --quiet "{install_spec()}"']
    assert "torch" not in on_colab["magics"][0], "Colab's own torch must be kept"
    assert on_colab["where"] == "colab" and on_colab["device"] == "cpu" and on_colab["online"] is False
    lines = on_colab["printed"].strip().splitlines()
    assert len(lines) == 1 and "colab" in lines[0] and "device cpu" in lines[0] and "offline" in lines[0]
    assert on_colab["names"] == ["check", "hint", "progress", "setup"]
    fresh = str(colab["python"].parent.parent)
    assert colab_run["package"].startswith(fresh), f"circuitlab was imported from {colab_run['package']}, not the wheel"
    third_party = Path(sysconfig.get_paths()["purelib"]).resolve()
    leaked = [entry for entry in colab_run["path"] if entry and Path(entry).resolve().is_relative_to(REPO)
              and not Path(entry).resolve().is_relative_to(third_party)]
    assert not leaked, f"the checkout leaked onto sys.path: {leaked}"


@pytest.mark.slow
def test_setup_cell_locally_installs_nothing(colab_run):
    local = colab_run["local"]
    assert local["magics"] == [] and local["where"] == "local"
    assert len(local["printed"].strip().splitlines()) == 1


@pytest.mark.slow
def test_checks_and_shipped_models_work_from_the_installed_package(colab, colab_run):
    assert colab_run["good"] == "passed" and colab_run["bad"] == "failed"
    assert colab_run["root"].startswith(str(colab["python"].parent.parent))
    assert colab_run["exercises"] > 0 and colab_run["missing_graders"] == []
    checkpoints = PACKAGE_SOURCE / "models" / "checkpoints"
    shipped_here = sorted(p.parent.relative_to(checkpoints).as_posix() for p in checkpoints.rglob("config.json"))
    assert sorted(colab_run["loaded"]) == shipped_here
    assert all(count > 0 for count in colab_run["loaded"].values())
