"""How many threads PyTorch (and the OpenMP and MKL pools under it) should use, here and now.

The chapters train small models. On a quiet 2-core machine two threads train them about 1.7
times faster than one; but when another process holds one of the cores, the second thread spends
its time waiting at every synchronisation point for a core it does not get, and a run takes two
to three times *longer* than with one thread. So the policy is: one thread per core that this
process may use and that is not busy with other work, never fewer than one, and never more than
the user asked for.

- An explicit setting always wins: ``setup(threads=N)``, then ``CIRCUITLAB_THREADS``, then
  ``OMP_NUM_THREADS`` (the variable OpenMP programs are told to read).
- Cores "this process may use" are its CPU affinity (``taskset``, container cpusets), capped by a
  cgroup CPU quota (``docker --cpus``) where there is one.
- "Busy" is measured, not guessed: a short sample of ``/proc/stat`` (what every core did in the
  last fraction of a second) minus what this process itself did meanwhile. Where there is no
  ``/proc/stat`` (macOS, Windows) the 1-minute load average stands in.

Processes we start (notebook kernels for the tests, ``circuitlab autograde`` and the benchmark)
also get ``OMP_WAIT_POLICY=PASSIVE`` in their environment: an OpenMP thread that has finished its
share then sleeps instead of spinning on a core another thread (or another program) needs. It must
be set before torch is imported, which is why it goes into the environment of a new process and
cannot be changed by ``setup()`` inside a running one.
"""
from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

# The variables a user sets to fix the thread count, in the order they are honoured.
USER_VARIABLES = ("CIRCUITLAB_THREADS", "OMP_NUM_THREADS")
# Every library that sizes a thread pool from the environment reads one of these: setting all of
# them in a child's environment (before torch loads there) fixes the whole child's thread count.
POOL_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "CIRCUITLAB_THREADS")
WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"
WAIT_POLICY = "PASSIVE"
# How long to watch the cores. Long enough for a few scheduler ticks on every core (the kernel
# counts in 10 ms ticks), short enough not to be noticed in a setup cell.
SAMPLE_SECONDS = 0.25
# A core counts as free when at least this much of it is idle: a core that is 30% busy already
# makes a second thread wait at every barrier, while 10% is background noise.
FREE_CORE_SHARE = 0.75


@dataclass(frozen=True)
class ThreadChoice:
    """A thread count and the reason for it, in words fit for the setup line."""

    threads: int
    reason: str
    cores: int  # cores this process may use
    busy_elsewhere: float | None = None  # cores' worth of work by other processes (None: not measured)
    explicit: bool = False  # the user fixed the count (setup(threads=N) or an environment variable)


# --------------------------------------------------------------------------- cores


def _cgroup_quota_cores(root: Path = Path("/sys/fs/cgroup")) -> int | None:
    """The cgroup v2 CPU quota in whole cores (rounded up), or None when there is no quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    return max(1, math.ceil(int(quota) / int(period)))


def allowed_cpus() -> set[int]:
    """The CPU numbers this process may run on."""
    try:
        return set(os.sched_getaffinity(0))
    except AttributeError:  # macOS and Windows have no affinity call: every CPU
        return set(range(os.cpu_count() or 1))


def usable_cores() -> int:
    """How many cores this process can keep busy at once: its affinity, capped by a CPU quota."""
    cores = len(allowed_cpus())
    quota = _cgroup_quota_cores()
    return max(1, min(cores, quota) if quota else cores)


# --------------------------------------------------------------------------- how busy they are


def _cpu_times(cpus: set[int], stat: Path = Path("/proc/stat")) -> dict[int, tuple[int, int]]:
    """(busy, total) clock ticks since boot for each of ``cpus``, from ``/proc/stat``."""
    times: dict[int, tuple[int, int]] = {}
    for line in stat.read_text().splitlines():
        name, *fields = line.split()
        if not name.startswith("cpu") or name == "cpu":
            continue
        number = int(name[3:])
        if number not in cpus:
            continue
        # user nice system idle iowait irq softirq steal: idle and iowait are the core's free time;
        # steal is time the hypervisor gave to another machine, so it counts as busy.
        ticks = [int(value) for value in fields[:8]]
        idle = ticks[3] + ticks[4]
        times[number] = (sum(ticks) - idle, sum(ticks))
    return times


def busy_elsewhere(sample_seconds: float = SAMPLE_SECONDS) -> float | None:
    """Cores' worth of work that other processes did on our cores during a short sample.

    None where ``/proc/stat`` cannot be read. Our own CPU time in the sample is subtracted, so a
    process that measures while it computes does not count itself as the competition.
    """
    cpus = allowed_cpus()
    try:
        before = _cpu_times(cpus)
        own_before, wall_before = time.process_time(), time.perf_counter()
        time.sleep(sample_seconds)
        after = _cpu_times(cpus)
        own_after, wall_after = time.process_time(), time.perf_counter()
    except (OSError, ValueError, IndexError):
        return None
    busy_cores = 0.0
    for cpu, (busy, total) in after.items():
        if cpu in before and total > before[cpu][1]:
            busy_cores += (busy - before[cpu][0]) / (total - before[cpu][1])
    own_cores = (own_after - own_before) / max(wall_after - wall_before, 1e-9)
    return max(0.0, busy_cores - own_cores)


def _load_average() -> float | None:
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return None


# --------------------------------------------------------------------------- the policy


def _explicit(requested: int | None, environ: Mapping[str, str]) -> tuple[int, str] | None:
    """The user's own thread count and where it came from, if they set one."""
    if requested is not None:
        if requested < 1:
            raise ValueError(f"threads must be at least 1, got {requested}.")
        return requested, f"asked for with threads={requested}"
    for name in USER_VARIABLES:
        text = environ.get(name, "").strip()
        if text.isdigit() and int(text) >= 1:
            return int(text), f"set by {name}={text}"
    return None


def threads_for(cores: int, busy: float) -> int:
    """One thread per free core: a core is free when at least ``FREE_CORE_SHARE`` of it is idle."""
    free = cores - busy
    return max(1, min(cores, math.floor(free + (1 - FREE_CORE_SHARE))))


def choose_threads(requested: int | None = None, environ: Mapping[str, str] | None = None,
                   sample_seconds: float = SAMPLE_SECONDS) -> ThreadChoice:
    """The thread count for this process now, and why (see the module's docstring for the policy)."""
    environ = os.environ if environ is None else environ
    cores = usable_cores()
    explicit = _explicit(requested, environ)
    if explicit is not None:
        return ThreadChoice(explicit[0], explicit[1], cores, explicit=True)
    if cores == 1:
        return ThreadChoice(1, "1 core available", cores)
    busy = busy_elsewhere(sample_seconds)
    source = "measured"
    if busy is None:
        busy, source = _load_average(), "load average"
    if busy is None:
        return ThreadChoice(cores, f"{cores} cores available (their load is unknown)", cores)
    threads = threads_for(cores, busy)
    if threads == cores:
        reason = f"{cores} of {cores} cores free"
    else:
        reason = f"other programs keep {busy:.1f} of {cores} cores busy ({source}), so {threads} free"
    return ThreadChoice(threads, reason, cores, round(busy, 2))


_applied: ThreadChoice | None = None  # the last choice applied in this process (setup's, usually)


def apply(choice: ThreadChoice) -> ThreadChoice:
    """Make torch use ``choice.threads`` (torch passes the count on to OpenMP and MKL)."""
    global _applied
    import torch

    if torch.get_num_threads() != choice.threads:
        torch.set_num_threads(choice.threads)
    _applied = choice
    return choice


def at_most(threads: int, why: str, environ: Mapping[str, str] | None = None) -> int:
    """Cap torch's threads at ``threads`` for work too small to gain from more (a chapter's toy models),
    unless the user fixed the count, which always wins. Prints what it did and returns the count in use."""
    import torch

    environ = os.environ if environ is None else environ
    user_fixed = (_applied is not None and _applied.explicit) or _explicit(None, environ) is not None
    if user_fixed:
        print(f"Threads: keeping the {torch.get_num_threads()} you asked for ({why}, {threads} would be enough).")
    elif torch.get_num_threads() > threads:
        torch.set_num_threads(threads)
        print(f"Threads: {threads}, because {why}.")
    return torch.get_num_threads()


def use_policy(requested: int | None = None) -> ThreadChoice:
    """Choose and apply in one call: what the training scripts' ``--threads`` (default: auto) do."""
    return apply(choose_threads(requested))


@contextlib.contextmanager
def using(threads: int | None) -> Iterator[None]:
    """Run the block with ``threads`` torch threads (None: as they are), then put the count back.

    For runs whose matrices are too small to gain from a second thread: a fixed single thread can
    never oversubscribe a machine, and the caller's own setting comes back afterwards.
    """
    import torch

    before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def per_worker(workers: int, cores: int | None = None) -> int:
    """Threads for each of ``workers`` processes that share this machine's cores."""
    return max(1, (cores if cores is not None else usable_cores()) // max(1, workers))


def child_environment(threads: int | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """Variables for a process we start (a notebook kernel): sleeping OpenMP waits and, if given, a thread count.

    A wait policy the user set is kept. Without ``threads`` the child chooses for itself when its
    setup cell runs, from the cores that are free then.
    """
    environ = os.environ if environ is None else environ
    variables = {WAIT_POLICY_VARIABLE: environ.get(WAIT_POLICY_VARIABLE, WAIT_POLICY)}
    if threads:
        variables.update({name: str(threads) for name in POOL_VARIABLES})
    return variables


def argument(text: str) -> int | None:
    """Parse a ``--threads`` option: a whole number, or ``auto`` (None: let the policy choose)."""
    if text.strip().lower() == "auto":
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise ValueError(f"--threads takes a whole number of at least 1 or 'auto', not {text!r}")
    return int(text)
