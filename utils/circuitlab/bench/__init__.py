"""The benchmark: what learners and instructors wait for, measured (``make bench``).

    python -m circuitlab.bench                       # everything; writes bench/results.json and the README table
    python -m circuitlab.bench --only grok,checks    # some sections; the others keep their last figures
    python -m circuitlab.bench --quick --out /tmp/r.json   # tiny settings: proves the harness, measures nothing real
    circuitlab bench ...                             # the same, from the command line tool

Everything runs offline on the CPU. Threads follow the thread policy (``--threads auto``, the
default: one per core that other programs leave free) or a fixed count (``--threads N``), and are
recorded beside the machine and its load average. The ``threads`` section measures the policy
against 1 and 2 threads, quiet and with one core kept busy. The benchmark is not part of ``make test``:
timings on a shared machine are not something a test can assert.
"""
from __future__ import annotations

import argparse
from typing import Any


def add_subcommands(sub: Any) -> None:
    """Register ``circuitlab bench`` (called by the ``circuitlab`` command line)."""
    from circuitlab.bench.runner import add_arguments, run

    parser = sub.add_parser("bench", help="measure notebook, check, training, autograding and install times")
    add_arguments(parser)
    parser.set_defaults(run=run)


def main(argv: list[str] | None = None) -> int:
    from circuitlab.bench.runner import add_arguments, run

    parser = argparse.ArgumentParser(prog="python -m circuitlab.bench", description=__doc__.split("\n\n")[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))
