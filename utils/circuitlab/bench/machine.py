"""The machine a benchmark ran on, and the thread settings it ran with."""
from __future__ import annotations

import os
import platform
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

# Every library that sizes a thread pool from the environment reads one of these. Setting all of
# them (before torch is imported) is what makes "threads N" true of the whole process and of the
# notebook kernels it starts; CIRCUITLAB_THREADS is what the notebooks' setup() reads.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CIRCUITLAB_THREADS")
OFFLINE_VARIABLES = ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")


def go_offline() -> None:
    """Measure offline, always: a download would time the network, not the project."""
    for name in OFFLINE_VARIABLES:
        os.environ[name] = "1"


def apply_threads(threads: int) -> int:
    """Use ``threads`` threads here and in every child process; returns what torch reports."""
    for name in THREAD_VARIABLES:
        os.environ[name] = str(threads)
    import torch

    torch.set_num_threads(threads)
    return torch.get_num_threads()


def available_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


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


def describe_machine(threads: int, root: Path | None) -> dict[str, Any]:
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
        "os": platform.platform(terse=True),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "circuitlab": circuitlab.__version__,
        "commit": git_commit(root),
        "offline": all(os.environ.get(name) == "1" for name in OFFLINE_VARIABLES),
        "load_average_at_start": load_average(),
    }
