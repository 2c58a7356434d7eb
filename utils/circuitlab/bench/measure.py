"""Small measuring tools: order statistics, repeated timing, and the peak memory of child processes."""
from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

MEGABYTE = 2**20


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    if not ordered:
        raise ValueError("median of no values")
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return float(ordered[middle])
    return (ordered[middle - 1] + ordered[middle]) / 2


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile with linear interpolation between order statistics.

    With a handful of runs the 95th percentile sits between the two slowest runs, which is
    what a reader of "p95" expects; the nearest-rank rule would just repeat the maximum.
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    position = fraction * (len(ordered) - 1)
    below, above = math.floor(position), math.ceil(position)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


@dataclass
class Timings:
    """Wall times, in seconds, of repeated runs of one thing."""

    seconds: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return median(self.seconds)

    def p95(self) -> float:
        return percentile(self.seconds, 0.95)


def time_repeatedly(run: Callable[[], object], repeats: int, budget_seconds: float | None = None,
                    minimum: int = 1) -> Timings:
    """Time ``run()`` up to ``repeats`` times.

    Stops early once ``budget_seconds`` of measuring is spent and at least ``minimum`` runs are
    done, so that one slow item cannot eat the whole benchmark.
    """
    timings = Timings()
    spent = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        elapsed = time.perf_counter() - start
        timings.seconds.append(elapsed)
        spent += elapsed
        if budget_seconds is not None and spent >= budget_seconds and len(timings.seconds) >= minimum:
            break
    return timings


def _high_water_mark_bytes(pid: int) -> int:
    """The kernel's record of a process's peak resident memory (``VmHWM``), 0 if unreadable."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


class ChildrenPeakMemory:
    """Samples the resident memory of every process started by this one, while in the ``with`` block.

    A notebook's kernel is a child process, so its peak is what this reports. Two views are
    combined: the sum over all descendants, sampled every ``interval`` seconds (a kernel may start
    helpers of its own), and the largest single process's ``VmHWM`` from ``/proc``, which Linux
    keeps exactly, so a spike shorter than the sampling interval is not missed.
    """

    def __init__(self, interval: float = 0.1) -> None:
        self.interval = interval
        self.peak_sum_bytes = 0
        self.peak_single_bytes = 0
        self.samples = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, name="peak-memory", daemon=True)

    def sample_now(self) -> None:
        """Take one sample now (also called after every notebook cell, while the kernel still lives)."""
        import psutil

        total = 0
        single = 0
        for child in psutil.Process().children(recursive=True):
            try:
                resident = child.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                continue  # it ended between listing and reading: nothing to count
            total += resident
            single = max(single, resident, _high_water_mark_bytes(child.pid))
        with self._lock:
            self.peak_sum_bytes = max(self.peak_sum_bytes, total)
            self.peak_single_bytes = max(self.peak_single_bytes, single)
            self.samples += 1

    def _sample_until_stopped(self) -> None:
        while not self._stop.is_set():
            self.sample_now()
            self._stop.wait(self.interval)

    def __enter__(self) -> "ChildrenPeakMemory":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def peak_mb(self) -> float:
        return max(self.peak_sum_bytes, self.peak_single_bytes) / MEGABYTE
