"""The ``circuitlab`` command line.

    circuitlab list [--json]
    circuitlab check ID FILE.py:NAME [--json]      exit 0 pass, 1 fail, 2 usage or bad input
    circuitlab progress NOTEBOOK.ipynb|FOLDER [--json]
    circuitlab hint ID [--level N]

Further subcommands (release, autograde, ...) register themselves in ``SUBCOMMANDS``.
"""
from __future__ import annotations

import argparse
import json
import runpy
import sys
from pathlib import Path
from typing import Any, Callable

EXIT_PASS, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit code 2."""


def _cmd_list(args: argparse.Namespace) -> int:
    from circuitlab.grading.registry import exercises

    rows = [
        {"id": e.id, "chapter": e.chapter, "title": e.title, "points": e.points}
        for e in exercises().values()
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for row in rows:
            print(f"{row['id']:<34} {row['points']:>2} pt  {row['title']}")
    return EXIT_PASS


def load_object(spec: str) -> Any:
    """Load ``NAME`` from ``FILE.py`` given as ``FILE.py:NAME``."""
    if ":" not in spec:
        raise UsageError(f"Expected FILE.py:NAME, got {spec!r}.")
    file_name, _, name = spec.rpartition(":")
    path = Path(file_name)
    if not path.is_file():
        raise UsageError(f"No such file: {file_name}")
    try:
        namespace = runpy.run_path(str(path), run_name="__circuitlab_submission__")
    except SystemExit:
        raise UsageError(f"{file_name} called exit() while being loaded.") from None
    except BaseException as exc:  # the learner's file failed to import: bad input, not a crash
        from circuitlab.grading.testing import learner_line

        line = learner_line(exc)
        raise UsageError(f"{file_name} raised {type(exc).__name__} while loading: {exc}"
                         + (f" (at {line})" if line else "")) from None
    if name not in namespace:
        defined = sorted(k for k in namespace if not k.startswith("_"))
        raise UsageError(f"{file_name} defines no {name!r}. It defines: {', '.join(defined) or 'nothing'}.")
    return namespace[name]


def _cmd_check(args: argparse.Namespace) -> int:
    from circuitlab.grading.engine import run_check
    from circuitlab.grading.registry import UnknownExercise, get_exercise

    try:
        get_exercise(args.id)
    except UnknownExercise as exc:
        raise UsageError(str(exc)) from None
    obj = load_object(args.target)
    result = run_check(args.id, obj)
    if args.json:
        print(json.dumps(result.to_json(), indent=1))
    else:
        print(result.report())
    return EXIT_PASS if result.passed else EXIT_FAIL


def _cmd_progress(args: argparse.Namespace) -> int:
    from circuitlab.grading.progress import (
        folder_progress, format_folder_progress, format_progress, notebook_progress,
    )

    path = Path(args.notebook)
    if path.is_dir():  # a learner's workspace: every chapter notebook in it
        report = folder_progress(path, timeout=args.timeout)
        print(json.dumps(report, indent=1) if args.json else format_folder_progress(report))
        return EXIT_PASS
    if not path.is_file() or path.suffix != ".ipynb":
        raise UsageError(f"Expected a notebook file (.ipynb) or a folder of them, got {args.notebook!r}.")
    report = notebook_progress(path, timeout=args.timeout)
    print(json.dumps(report, indent=1) if args.json else format_progress(report))
    return EXIT_PASS


def _cmd_hint(args: argparse.Namespace) -> int:
    from circuitlab.grading.engine import hint
    from circuitlab.grading.registry import UnknownExercise, get_exercise

    try:
        get_exercise(args.id)
    except UnknownExercise as exc:
        raise UsageError(str(exc)) from None
    hint(args.id, level=args.level or 1)
    return EXIT_PASS


def _add_list(sub: Any) -> None:
    p = sub.add_parser("list", help="list every exercise")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_cmd_list)


def _add_check(sub: Any) -> None:
    p = sub.add_parser("check", help="check one exercise from a Python file")
    p.add_argument("id", help="exercise id, e.g. ch1.layer_norm")
    p.add_argument("target", help="FILE.py:NAME, the object to check")
    p.add_argument("--json", action="store_true")
    p.set_defaults(run=_cmd_check)


def _add_progress(sub: Any) -> None:
    p = sub.add_parser("progress", help="execute a learner notebook (a copy) and report each exercise")
    p.add_argument("notebook", help="a notebook, or a folder (your workspace/) whose chapter notebooks are all reported")
    p.add_argument("--json", action="store_true")
    p.add_argument("--timeout", type=int, default=900, help="seconds per cell")
    p.set_defaults(run=_cmd_progress)


def _add_hint(sub: Any) -> None:
    p = sub.add_parser("hint", help="show a hint for an exercise")
    p.add_argument("id")
    p.add_argument("--level", type=int, default=None)
    p.set_defaults(run=_cmd_hint)


SUBCOMMANDS: list[Callable[[Any], None]] = [_add_list, _add_check, _add_progress, _add_hint]


def _optional_subcommands() -> list[Callable[[Any], None]]:
    """Subcommands living in other modules (instructor tools, benchmark), if present."""
    found = []
    for module_name in ("circuitlab.course", "circuitlab.bench"):
        try:
            module = __import__(module_name, fromlist=["add_subcommands"])
        except ModuleNotFoundError:
            continue
        if hasattr(module, "add_subcommands"):
            found.append(module.add_subcommands)
    return found


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # usage errors exit with 2, as the contract says
        self.print_usage(sys.stderr)
        print(f"circuitlab: {message}", file=sys.stderr)
        raise SystemExit(EXIT_USAGE)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="circuitlab", description="Circuit Lab: list, check and track exercises.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for add in SUBCOMMANDS + _optional_subcommands():
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        print(f"circuitlab: {exc}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
