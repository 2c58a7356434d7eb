"""Running nbgrader commands in their own processes, with a wall-clock limit.

Every nbgrader command runs as a separate process so that one submission's failure (a dead
kernel, a hung interpreter) is visible as that process's exit status and cannot take down the
others. A process that outlives its limit is stopped together with the kernels it started.
"""
from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil


@dataclass
class Finished:
    returncode: int | None  # None: stopped at the wall-clock limit
    log: str
    seconds: float

    @property
    def stopped(self) -> bool:
        return self.returncode is None


def nbgrader_command(*args: str) -> list[str]:
    """nbgrader from this interpreter's environment, whatever is on PATH."""
    return [sys.executable, "-m", "nbgrader", *args]


def _stop_tree(process: subprocess.Popen) -> None:
    """Kill a process and every process it started (kernels included)."""
    try:
        parent = psutil.Process(process.pid)
        family = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for member in family:
        try:
            member.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(family, timeout=10)


def run_nbgrader(args: list[str], course_dir: Path, env: dict[str, str], limit: float,
                 log_file: Path | None = None) -> Finished:
    """Run ``nbgrader ARGS`` in ``course_dir``; the combined output is returned (and saved to ``log_file``)."""
    command = nbgrader_command(*args, f"--CourseDirectory.root={Path(course_dir).resolve()}")
    start = time.monotonic()
    log_path = log_file or Path(course_dir) / ".last_nbgrader.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w", encoding="utf-8") as sink:
        process = subprocess.Popen(command, cwd=course_dir, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                   stdin=subprocess.DEVNULL)
        try:
            returncode: int | None = process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            _stop_tree(process)
            returncode = None
    return Finished(returncode, log_path.read_text(encoding="utf-8", errors="replace"), time.monotonic() - start)
