"""The machine a benchmark ran on, and the thread settings it ran with."""
from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from circuitlab.threads import POOL_VARIABLES as THREAD_VARIABLES  # noqa: F401 (the name older callers use)
from circuitlab.threads import child_environment, choose_threads, usable_cores

OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def go_offline() -> None:
    """Measure offline, always: a download would time the network, not the project."""
    for name in OFFLINE_VARIABLES:
        os.environ[name] = "1"


def apply_threads(threads: int | None) -> tuple[int, str]:
    """Use ``threads`` threads here and in every child process (None: the thread policy's choice).

    A fixed count is put into the environment, so the notebook kernels it starts use it too. With
    the policy, only the wait policy goes there: each kernel chooses for itself in its setup cell,
    as it does on a learner's machine. Returns what torch reports, and why.
    """
    import torch

    choice = choose_threads(threads)
    os.environ.update(child_environment(threads))
    torch.set_num_threads(choice.threads)
    return torch.get_num_threads(), choice.reason


def available_cores() -> int:
    return usable_cores()


def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages: how busy the machine was (a shared machine skews timings)."""
    try:
        return [round(value, 2) for value in os.getloadavg()]
    except OSError:
        return None


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(root: Path | None) -> str | None:
    if root is None:
        return None
    try:
        done = subprocess.run(["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                              capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


def utc_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe_machine(threads: int, root: Path | None, threads_reason: str = "") -> dict[str, Any]:
    import psutil
    import torch

    import circuitlab

    return {
        "cpu": cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "cores_available": available_cores(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "device": "cpu",
        "threads": threads,
        "threads_reason": threads_reason,
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "circuitlab": circuitlab.__version__,
        "commit": git_commit(root),
        "offline": all(os.environ.get(name) == "1" for name in OFFLINE_VARIABLES),
        "load_average_at_start": load_average(),
    }
