"""Binder: binder/ follows repo2docker's conventions and installs the same pins as `make install`."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]
BINDER = REPO / "binder"
PIN = re.compile(r"^([A-Za-z0-9_.\-\[\]]+)==([^\s;#]+)")


def _pins(path: Path) -> dict[str, str]:
    """Exact pins of a requirements/constraints file, by normalised name (extras and comments ignored)."""
    pins = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            name = re.sub(r"[-_.]+", "-", match.group(1).split("[")[0]).lower()
            pins[name] = match.group(2)
    return pins


def _public(version: str) -> str:
    """'2.13.0+cpu' -> '2.13.0': the local label names the build, not the version."""
    return str(Version(version).public)


def _makefile_variable(name: str) -> str:
    match = re.search(rf"^{name}\s*:=\s*(\S+)", (REPO / "Makefile").read_text(), re.MULTILINE)
    assert match, f"The Makefile no longer sets {name}"
    return match.group(1)


def _makefile_package_install() -> tuple[str, str]:
    """(constraints file, install target) of the Makefile's install of the package itself."""
    match = re.search(r"install\s.*-c\s+(\S+)\s+-e\s+'?([^'\s]+)'?", (REPO / "Makefile").read_text())
    assert match, "The Makefile's package install line was not found"
    return match.group(1), match.group(2)


def test_binder_has_what_repo2docker_reads():
    assert (BINDER / "requirements.txt").is_file()
    post_build = BINDER / "postBuild"
    assert post_build.is_file() and os.access(post_build, os.X_OK), "binder/postBuild must be executable"
    assert post_build.read_text().startswith("#!/bin/bash")
    syntax = subprocess.run(["bash", "-n", str(post_build)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr


def test_binder_python_is_one_the_package_supports():
    runtime = (BINDER / "runtime.txt").read_text().strip()
    assert re.fullmatch(r"python-3\.\d+", runtime), f"runtime.txt should read python-3.X, not {runtime!r}"
    requires = re.search(r'^requires-python\s*=\s*"([^"]+)"', (REPO / "pyproject.toml").read_text(), re.MULTILINE).group(1)
    assert Version(runtime.removeprefix("python-")) in SpecifierSet(requires)


def test_binder_torch_is_the_locked_cpu_build():
    binder_pins = _pins(BINDER / "requirements.txt")
    locked = _pins(REPO / "constraints.txt")
    assert "torch" in binder_pins, "binder/requirements.txt must install torch first"
    assert binder_pins["torch"].endswith("+cpu"), "Binder needs the CPU build of torch"
    assert _public(binder_pins["torch"]) == _public(locked["torch"]) == _makefile_variable("TORCH_VERSION")
    assert "download.pytorch.org/whl/cpu" in (BINDER / "requirements.txt").read_text()


def test_every_binder_pin_agrees_with_the_lock():
    locked = _pins(REPO / "constraints.txt")
    for name, version in _pins(BINDER / "requirements.txt").items():
        assert name in locked, f"binder/requirements.txt pins {name}, which the lock does not"
        assert _public(version) == _public(locked[name]), f"{name}: Binder {version}, lock {locked[name]}"


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_post_build_installs_like_the_makefile(tmp_path):
    """Run binder/postBuild with a stand-in `python` that records each call instead of installing."""
    recorder = tmp_path / "bin"
    recorder.mkdir()
    log = tmp_path / "calls.txt"
    (recorder / "python").write_text(f'#!/bin/bash\nprintf "%s\\n" "$*" >> "{log}"\n')
    (recorder / "python").chmod(0o755)
    env = {"PATH": f"{recorder}:/usr/bin:/bin", "HOME": str(tmp_path)}
    done = subprocess.run(["bash", str(BINDER / "postBuild")], cwd=REPO, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    calls = log.read_text().splitlines()

    constraints, target = _makefile_package_install()
    installs = [c for c in calls if c.startswith("-m pip install")]
    assert len(installs) == 1, calls
    assert f"-c {constraints}" in installs[0] and installs[0].split()[-1] == target, (
        f"postBuild installs {installs[0]!r}; the Makefile installs {target} with -c {constraints}"
    )
    assert any("torch.version.cuda" in c for c in calls), "postBuild should refuse a CUDA build of torch"
    assert calls[-1] == "-m circuitlab.workspace", "Binder learners should start on their own copies"
    assert calls.index(installs[0]) < calls.index("-m circuitlab.workspace")


def test_binder_link_comes_from_the_project_address():
    from circuitlab.project import REF, REPOSITORY, binder_url

    url = binder_url("workspace/00_tools.ipynb")
    assert url.startswith(f"https://mybinder.org/v2/gh/{REPOSITORY}/{REF}")
    assert url.endswith("?labpath=workspace/00_tools.ipynb")

