"""Where a student's kernel runs: its own namespaces, no network, a read-only view of everything
that grading depends on, and resource limits.

On Linux with unprivileged user namespaces (most distributions, and containers that allow
them) the kernel is started as::

    unshare --user --map-root-user --net --pid --fork --mount --mount-proc --kill-child \\
        python -I sandbox.py --readonly DIR ... --writable SCRATCH -- KERNEL...

Inside, this module (trusted code, run before any student code) bind-mounts each ``--readonly``
folder read-only, keeps the kernel's scratch folder writable, sets the resource limits, drops
every capability and executes the kernel. The kernel then has:

- no network (an empty network namespace: only a loopback of its own);
- no view of other processes (its own process namespace), so it cannot signal or trace the
  grading process;
- no way to change the installed graders, the course, the other students' work or the results;
- no way to read the graders, nor the reference solutions that its chapter's helpers do not need
  (they are covered by empty files and folders).

Where namespaces are not available the kernel runs as an ordinary child process with the same
resource limits and environment, and the run report says that the sandbox was missing.
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

UNSHARE_FLAGS = ("--user", "--map-root-user", "--net", "--pid", "--fork", "--mount", "--mount-proc", "--kill-child")
# Capabilities are dropped for good before the kernel starts: without them the namespace's root
# cannot undo the read-only mounts.
SETPRIV = ("setpriv", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs")


@dataclass(frozen=True)
class Limits:
    memory_bytes: int  # address space of the kernel
    file_bytes: int  # largest file the kernel may write
    processes: int | None = None


@lru_cache(maxsize=1)
def namespaces_available() -> str | None:
    """None when the sandbox can be used here, else why not (for the run report)."""
    if not sys.platform.startswith("linux"):
        return "namespaces are Linux-only"
    for tool in ("unshare", "setpriv", "mount"):
        if shutil.which(tool) is None:
            return f"`{tool}` is not installed"
    try:
        probe = subprocess.run(["unshare", *UNSHARE_FLAGS, "true"], capture_output=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed ({exc})"
    if probe.returncode != 0:
        return "unprivileged user namespaces are not allowed here (" + \
            (probe.stderr.decode(errors="replace").strip().splitlines() or ["no reason given"])[-1] + ")"
    return None


def wrap(kernel_command: list[str], readonly: list[Path], writable: Path, limits: Limits,
         isolate: bool, hidden: list[Path] = ()) -> list[str]:
    """The command that starts ``kernel_command`` inside the sandbox (or only with limits)."""
    # Run as a file in isolated mode: the kernel's PYTHONPATH (which has no instructor tools) is not used.
    inner = [sys.executable, "-I", str(Path(__file__).resolve()), "--memory", str(limits.memory_bytes),
             "--file-size", str(limits.file_bytes), "--writable", str(writable)]
    if isolate:
        inner.append("--mounts")
        for folder in readonly:
            inner += ["--readonly", str(folder)]
        for path in hidden:
            inner += ["--hide", str(path)]
    inner += ["--", *kernel_command]
    return ["unshare", *UNSHARE_FLAGS, "--", *inner] if isolate else inner


def _bind_readonly(folder: str) -> None:
    subprocess.run(["mount", "--bind", folder, folder], check=True)
    subprocess.run(["mount", "-o", "remount,bind,ro", folder, folder], check=True)


def _hide(path: str) -> None:
    """Cover a file with an empty one, a folder with an empty folder: not even readable."""
    if Path(path).is_dir():
        subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=4k", "tmpfs", path], check=True)
    elif Path(path).is_file():
        subprocess.run(["mount", "--bind", "-o", "ro", "/dev/null", path], check=True)


def _set_limits(memory: int, file_size: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_FSIZE, (file_size, file_size))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="circuitlab.course.sandbox")
    parser.add_argument("--readonly", action="append", default=[])
    parser.add_argument("--writable", required=True)
    parser.add_argument("--memory", type=int, required=True)
    parser.add_argument("--file-size", type=int, required=True)
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("--mounts", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if args.mounts:
        writable = str(Path(args.writable).resolve())
        for folder in sorted(set(args.readonly), key=len):
            if Path(folder).is_dir():
                _bind_readonly(folder)
        for path in args.hide:
            _hide(path)
        # The scratch folder may sit inside a read-only one: bind it again, and make that writable
        # (a bind mount starts with the flags of the mount it comes from).
        subprocess.run(["mount", "--bind", writable, writable], check=True)
        subprocess.run(["mount", "-o", "remount,bind,rw", writable, writable], check=True)
        command = [*SETPRIV, "--", *command]
    _set_limits(args.memory, args.file_size)
    os.execvp(command[0], command)


if __name__ == "__main__":
    main()
