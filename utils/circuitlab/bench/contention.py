"""The ``threads`` section: the thread policy measured on a quiet machine and with one core taken.

Grokking (``python -m circuitlab.ch4.training --bench``) and one solution notebook are run, each
in a fresh process, with 1 thread, with 2 threads, and with the thread policy's own choice; first
with the machine as it is, then with one core kept busy by a competing process that this section
starts (an endless Python loop) and stops. A fresh process per run matters: OpenMP reads its
thread count and wait policy once, when torch loads.

The 2-thread run is measured twice: with the wait policy every process we start gets
(``OMP_WAIT_POLICY=PASSIVE``: idle threads sleep) and with OpenMP's default (idle threads spin for
a while first), so the effect of the wait policy is measured too.
"""
from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

from circuitlab import threads as thread_policy

# (label, threads or None for the policy, wait policy or None for OpenMP's default)
CONFIGURATIONS: tuple[tuple[str, int | None, str | None], ...] = (
    ("1 thread", 1, thread_policy.WAIT_POLICY),
    ("2 threads", 2, thread_policy.WAIT_POLICY),
    ("2 threads, spinning", 2, None),
    ("policy", None, thread_policy.WAIT_POLICY),
)
QUICK_CONFIGURATIONS = ("1 thread", "policy")  # the quick mode proves the harness, it measures nothing
STATES = ("quiet", "one core busy")
NOTEBOOK = "04_grokking"  # the chapter whose notebook trains longest on the CPU
QUICK_NOTEBOOK = "00_*"  # the smallest chapter
SPINNER = "while True: pass"


@contextlib.contextmanager
def one_core_busy() -> Iterator[None]:
    """A competing process that keeps one core busy for the duration of the block."""
    spinner = subprocess.Popen([sys.executable, "-c", SPINNER], stdin=subprocess.DEVNULL)
    time.sleep(1.0)  # let it start and be seen by the scheduler (and by the policy's sample)
    try:
        yield
    finally:
        spinner.kill()
        spinner.wait()


@contextlib.contextmanager
def thread_environment(threads: int | None, wait_policy: str | None) -> Iterator[None]:
    """``os.environ`` for one configuration: pinned pools or none (the policy decides), and the wait policy.

    Children (the grokking process, a notebook kernel) inherit it; the old values come back after.
    """
    names = (*thread_policy.POOL_VARIABLES, thread_policy.WAIT_POLICY_VARIABLE)
    saved = {name: os.environ.get(name) for name in names}
    for name in names:
        os.environ.pop(name, None)
    if threads:
        os.environ.update({name: str(threads) for name in thread_policy.POOL_VARIABLES})
    if wait_policy:
        os.environ[thread_policy.WAIT_POLICY_VARIABLE] = wait_policy
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def grok_in_fresh_process(quick: bool) -> dict[str, Any]:
    """Run the grokking benchmark in a new interpreter; its figures, or the reason it failed."""
    limits = ["--paper-epochs", "1"] + (["--max-epochs", "3"] if quick else [])
    command = [sys.executable, "-m", "circuitlab.ch4.training", "--bench", "--threads", "auto", *limits]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, timeout=1800)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["no output"])[-1][:300], "wall_seconds": round(wall, 2)}
    raw = json.loads(done.stdout[done.stdout.index("{"):])
    fast = raw["fast_recipe"]
    # Not every run reaches 99% in the quick mode: time per epoch is then the comparable figure.
    return {"seconds": fast["seconds_to_99pct_test"], "ms_per_epoch": round(fast["ms_per_epoch"], 2),
            "epochs": fast["epochs_to_99pct_test"], "threads": raw["threads"],
            "threads_reason": raw.get("threads_reason"), "wall_seconds": round(wall, 2)}


def _notebook_path(settings: Any) -> Path:
    from circuitlab.bench.sections import Unavailable, require_checkout

    root = require_checkout(settings)
    chosen = sorted(settings.chapters) if settings.chapters else []
    default = QUICK_NOTEBOOK if settings.quick else NOTEBOOK
    pattern = f"{chosen[0]:02d}_*.ipynb" if chosen else f"{default}.ipynb"
    found = sorted((root / "solutions").glob(pattern))
    if not found:
        raise Unavailable(f"no solution notebook solutions/{pattern}")
    return found[0]


def notebook_in_fresh_kernel(path: Path, cell_timeout: int) -> dict[str, Any]:
    from circuitlab.bench.sections import execute_notebook

    run = execute_notebook(path, cell_timeout)
    return {"seconds": round(run.seconds, 2), "error": run.error}


def _figure(runs: dict[str, dict[str, dict[str, Any]]], key: str) -> dict[str, dict[str, float | None]]:
    return {state: {label: run.get(key) for label, run in by_label.items()} for state, by_label in runs.items()}


def _ratios(figure: dict[str, dict[str, float | None]]) -> dict[str, float | None]:
    """The policy's time over the 1-thread time, in each state (the issue's target: at most 1.1 when busy)."""
    ratios: dict[str, float | None] = {}
    for state, times in figure.items():
        one, policy = times.get("1 thread"), times.get("policy")
        ratios[state] = round(policy / one, 2) if one and policy else None
    return ratios


def measure_threads(settings: Any) -> Any:
    from circuitlab.bench.sections import Outcome

    notebook = _notebook_path(settings)
    configurations = [c for c in CONFIGURATIONS if not settings.quick or c[0] in QUICK_CONFIGURATIONS]
    grok: dict[str, dict[str, dict[str, Any]]] = {}
    notebooks: dict[str, dict[str, dict[str, Any]]] = {}
    policy_choice: dict[str, Any] = {}
    for state in STATES:
        busy = one_core_busy() if state != "quiet" else contextlib.nullcontext()
        with busy:
            policy_choice[state] = thread_policy.choose_threads(environ={}).threads
            grok[state], notebooks[state] = {}, {}
            for label, threads, wait_policy in configurations:
                with thread_environment(threads, wait_policy):
                    grok[state][label] = grok_in_fresh_process(settings.quick)
                    notebooks[state][label] = notebook_in_fresh_kernel(notebook, settings.cell_timeout)
                settings.log(f"  {state}, {label}: grokking {grok[state][label].get('seconds')} s "
                             f"({grok[state][label].get('threads')} threads), "
                             f"{notebook.stem} {notebooks[state][label]['seconds']} s")
                settings.checkpoint({}, {"grok": grok, "notebook": notebooks}, f"stopped during {state}, {label}")
    # The quick mode stops before 99%: its seconds are null, and the time per epoch compares instead.
    grok_seconds, grok_ms = _figure(grok, "seconds"), _figure(grok, "ms_per_epoch")
    notebook_seconds = _figure(notebooks, "seconds")
    figure = {
        "grok_seconds": grok_seconds,
        "grok_ms_per_epoch": grok_ms,
        "notebook_seconds": notebook_seconds,
        "policy_over_one_thread": {"grok": _ratios(grok_ms if settings.quick else grok_seconds),
                                   "notebook": _ratios(notebook_seconds)},
        "policy_threads": {state: choice for state, choice in policy_choice.items()},
    }
    failed = [f"{state}, {label}: {run['error']}" for runs in (grok, notebooks) for state, by_label in runs.items()
              for label, run in by_label.items() if run.get("error")]
    return Outcome(figures={"threads": figure},
                   details={"grok": grok, "notebook": {"path": f"solutions/{notebook.name}", "runs": notebooks},
                            "competitor": f"{sys.executable} -c '{SPINNER}'",
                            "configurations": [list(c) for c in configurations],
                            "grok_command": "python -m circuitlab.ch4.training --bench --threads auto --paper-epochs 1",
                            "runs": "one run per configuration and state, each in a fresh process"},
                   status="error" if failed else "ok", reason="; ".join(failed) or None)
