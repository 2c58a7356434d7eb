"""Running the benchmark: options, the sections in turn, the results file and the README table."""
from __future__ import annotations

import argparse
import shlex
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from circuitlab.bench import results as results_file
from circuitlab.bench.machine import apply_threads, describe_machine, go_offline, load_average, utc_now
from circuitlab.bench.results import SECTIONS
from circuitlab.threads import argument as thread_argument

EXIT_OK, EXIT_SECTION_FAILED, EXIT_USAGE = 0, 1, 2
# The thread policy (circuitlab.threads) by default, as on a learner's machine; a number pins it.
DEFAULT_THREADS = "auto"


class UsageError(Exception):
    """Bad options: reported in one sentence, exit code 2, nothing written."""


def repository_root() -> Path | None:
    """The checkout the package is installed from (editable install), or None for a plain install."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "Makefile").is_file() and (parent / "pyproject.toml").is_file() and (parent / "masters").is_dir():
            return parent
    return None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--only", metavar="SECTION[,SECTION]",
                        help=f"measure only these sections ({', '.join(SECTIONS)}) and keep the others' "
                             "figures from the existing results file")
    parser.add_argument("--quick", action="store_true",
                        help="tiny settings that prove the harness works in a minute (figures not representative)")
    parser.add_argument("--threads", default=DEFAULT_THREADS, metavar="N|auto",
                        help="torch/OpenMP threads, here and in the notebook kernels (default auto: one per core "
                             "that other programs leave free, chosen by each process)")
    parser.add_argument("--out", type=Path, default=None, help="results file (default bench/results.json in the checkout)")
    parser.add_argument("--chapters", metavar="N[,N]", help="only these chapters' notebooks, checks and training runs")
    parser.add_argument("--repeats", type=int, default=10, help="timed runs of each check after the warm-up (default 10)")
    parser.add_argument("--cell-timeout", type=int, default=1800, help="seconds a notebook cell may run (default 1800)")
    parser.add_argument("--autograde-every-chapter", action="store_true",
                        help="autograde one submission of every chapter (default: the first chapter only, "
                             "alone and as a class of 30)")
    parser.add_argument("--class-size", type=int, default=30,
                        help="submissions in the autograded class (default 30; a smaller class is quicker, and "
                             "the time for 30 is then estimated, not measured)")
    parser.add_argument("--no-readme", action="store_true", help="do not rewrite the README's benchmark section")
    parser.add_argument("--report-only", action="store_true",
                        help="measure nothing: print the table of the existing results file and refresh the README")


def _parse_list(text: str | None, what: str, allowed: tuple[str, ...] | None = None) -> list[str] | None:
    if text is None:
        return None
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise UsageError(f"{what} is empty.")
    if allowed is not None:
        unknown = [item for item in items if item not in allowed]
        if unknown:
            raise UsageError(f"Unknown {what} {', '.join(map(repr, unknown))}; choose from {', '.join(allowed)}.")
    return items


def _parse_chapters(text: str | None) -> frozenset[int] | None:
    items = _parse_list(text, "--chapters")
    if items is None:
        return None
    if not all(item.isdigit() for item in items):
        raise UsageError(f"--chapters takes chapter numbers such as 0,2; got {text!r}.")
    return frozenset(int(item) for item in items)


def _output_path(args: argparse.Namespace, root: Path | None) -> Path:
    if args.out is not None:
        out = args.out
    elif root is not None:
        out = root / "bench" / "results.json"
    else:
        raise UsageError("Not in a repository checkout: give the results file with --out PATH.")
    if out.exists() and out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file path such as {out / 'results.json'}.")
    return out


def _readme_target(args: argparse.Namespace, root: Path | None, out: Path) -> Path | None:
    """The README to refresh: only for real runs written to the checkout's own results file."""
    if args.no_readme or args.quick or root is None:
        return None
    if out.resolve() != (root / "bench" / "results.json").resolve():
        return None
    return root / "README.md"


def run_section(name: str, settings: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run one section; never raises (except on Ctrl-C). Returns (its record, its figures)."""
    from circuitlab.bench.sections import SECTION_FUNCTIONS, Outcome, Skipped, Unavailable

    load_before = load_average()
    start = time.perf_counter()
    details: dict[str, Any] = {}
    figures: dict[str, Any] = {}
    try:
        outcome: Outcome = SECTION_FUNCTIONS[name](settings)
        status, reason, figures, details = outcome.status, outcome.reason, outcome.figures, outcome.details
    except Unavailable as exc:
        status, reason = "unavailable", str(exc)
    except Skipped as exc:
        status, reason = "skipped", str(exc)
    except Exception as exc:  # a broken section is recorded, and the next one runs
        status = "error"
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"[:400]
        details = {"traceback": traceback.format_exc().strip().splitlines()[-12:]}
    if status != "ok" and not reason:
        reason = status
    record = {
        "status": status,
        "reason": reason,
        "seconds": round(time.perf_counter() - start, 2),
        "measured_at": utc_now(),
        "load_average": {"before": load_before, "after": load_average()},
        "threads": settings.threads,
        "quick": settings.quick,
        "details": details,
    }
    return record, figures


def _partial_writer(results: dict[str, Any], name: str, settings: Any, out: Path):
    """A checkpoint for section ``name``: writes what it measured so far, marked as unfinished.

    The record says "error" with the reason "stopped after ..." until the section ends and
    replaces it, so a results file from a run that was stopped never passes for a finished one.
    """
    def write_partial(figures: dict[str, Any], details: dict[str, Any], left: str) -> None:
        record = {"status": "error", "reason": f"{left} (the run was stopped before this section ended)",
                  "seconds": None, "measured_at": utc_now(), "load_average": {"before": None, "after": load_average()},
                  "threads": settings.threads, "quick": settings.quick, "details": details}
        results_file.merge_section(results, name, record, figures)
        results["complete"] = False
        results_file.write(results, out)

    return write_partial


def measure(args: argparse.Namespace) -> int:
    root = repository_root()
    only = _parse_list(args.only, "section", SECTIONS)
    chapters = _parse_chapters(args.chapters)
    try:
        requested_threads = thread_argument(str(args.threads))
    except ValueError:
        raise UsageError(f"--threads must be a whole number of at least 1 or 'auto', got {args.threads}.") from None
    if args.class_size < 1:
        raise UsageError(f"--class-size must be at least 1, got {args.class_size}.")
    if args.repeats < 1:
        raise UsageError(f"--repeats must be at least 1, got {args.repeats}.")
    out = _output_path(args, root)
    readme = _readme_target(args, root, out)

    if args.report_only:
        if not out.exists():
            raise UsageError(f"{out} does not exist yet: run the benchmark first.")
        return _report(results_file.load_for_merge(out), readme)

    # A partial run (--only) keeps the other sections' figures; a full run starts afresh. Either
    # way an unreadable existing file is reported before anything is measured, and kept.
    results = results_file.load_for_merge(out) if only else results_file.empty_results()

    go_offline()
    threads, threads_reason = apply_threads(requested_threads)
    from circuitlab.bench.sections import Settings

    settings = Settings(threads=threads, auto_threads=requested_threads is None, quick=args.quick, check_repeats=args.repeats, chapters=chapters,
                        root=root, cell_timeout=args.cell_timeout,
                        autograde_every_chapter=args.autograde_every_chapter, class_size=args.class_size, log=lambda line: print(line, flush=True))
    results.update(
        generated_at=utc_now(),
        command="python -m circuitlab.bench " + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        quick=args.quick,
        machine=describe_machine(threads, root, threads_reason),
    )
    for name in only or SECTIONS:
        print(f"[{utc_now()}] {name} ...", flush=True)
        settings.checkpoint = _partial_writer(results, name, settings, out)
        record, figures = run_section(name, settings)
        results_file.merge_section(results, name, record, figures)
        results["complete"] = results_file.is_complete(results)
        results_file.write(results, out)  # after every section: an interrupted run keeps what it measured
        print(f"[{utc_now()}] {name}: {record['status']} in {record['seconds']:.0f} s"
              + (f" ({record['reason']})" if record["reason"] else ""), flush=True)
    results["machine"]["load_average_at_end"] = load_average()
    results_file.write(results, out)
    problems = results_file.validate(results)
    if problems:  # a bug in the benchmark itself: say so loudly, the file is still written for inspection
        print("The results file is malformed: " + "; ".join(problems), file=sys.stderr)
        return EXIT_SECTION_FAILED
    print(f"wrote {out}")
    status = _report(results, readme)
    ran = only or SECTIONS
    failed = [name for name in ran if results["sections"][name]["status"] == "error"]
    return EXIT_SECTION_FAILED if failed or status else EXIT_OK


def _report(results: dict[str, Any], readme: Path | None) -> int:
    from circuitlab.bench.report import ReadmeProblem, markdown, plain_table, update_readme

    print()
    print(plain_table(results))
    if readme is None:
        return EXIT_OK
    try:
        print(f"{readme}: {update_readme(readme, markdown(results))}")
    except ReadmeProblem as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_SECTION_FAILED
    return EXIT_OK


def run(args: argparse.Namespace) -> int:
    try:
        return measure(args)
    except UsageError as exc:
        print(f"circuitlab bench: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except results_file.ResultsFileProblem as exc:
        print(f"circuitlab bench: {exc} It was left untouched; move it away or choose another --out.", file=sys.stderr)
        return EXIT_USAGE
