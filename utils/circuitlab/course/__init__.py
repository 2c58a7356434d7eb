"""Instructor tools: release the chapters as nbgrader assignments and autograde a class.

    circuitlab release OUT_DIR [--chapter SLUG ...] [--timeout S] [--validate]
    circuitlab autograde SUBMISSIONS --course DIR --out OUT_DIR [--workers N] [--timeout S] [--roster CSV]

The workflow and the settings are described in docs/instructors.md.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from circuitlab.course import settings


def _cmd_release(args: argparse.Namespace) -> int:
    from circuitlab.course.release import ReleaseError, release
    from circuitlab.grading.cli import UsageError

    try:
        result = release(Path(args.out_dir), chapters=args.chapter or None, cell_timeout=args.timeout,
                         validate=args.validate)
    except ReleaseError as exc:
        raise UsageError(str(exc)) from None
    print(f"Course ready in {result.course_dir}: {len(result.assignments)} assignment(s). "
          f"Hand out the notebooks in {result.course_dir / 'release'}.")
    return 0


def _cmd_autograde(args: argparse.Namespace) -> int:
    from circuitlab.course.autograde import CourseError, grade_class, summary
    from circuitlab.course.intake import IntakeError
    from circuitlab.grading.cli import UsageError

    try:
        result = grade_class(Path(args.submissions), Path(args.course), Path(args.out), workers=args.workers,
                             cell_timeout=args.timeout, notebook_timeout=args.notebook_timeout,
                             only=args.assignment or None, force=args.force, keep_work=args.keep_work,
                             roster=Path(args.roster) if args.roster else None, partial_credit=args.partial_credit)
    except (CourseError, IntakeError) as exc:
        raise UsageError(str(exc)) from None
    print(summary(result))
    return 0


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_subcommands(sub: Any) -> None:
    release = sub.add_parser("release", help="write an nbgrader course with every chapter as an assignment")
    release.add_argument("out_dir", help="the course directory to create or update")
    release.add_argument("--chapter", action="append", metavar="SLUG",
                         help="release only this chapter (repeatable), e.g. 00_tools")
    release.add_argument("--timeout", type=_positive, default=settings.CELL_TIMEOUT,
                         help=f"seconds per cell written to a new nbgrader_config.py (default {settings.CELL_TIMEOUT})")
    release.add_argument("--validate", action="store_true",
                         help="run nbgrader validate on each source (must pass) and, inverted, on each release "
                              "(no test may pass); executes every chapter")
    release.set_defaults(run=_cmd_release)

    grade = sub.add_parser("autograde", help="autograde a class's submissions and write grades.csv and feedback")
    grade.add_argument("submissions", help="a folder with one folder or zip per student, or a zip of those")
    grade.add_argument("--course", required=True, help="the course directory written by `circuitlab release`")
    grade.add_argument("--out", required=True, help="where grades.csv, feedback/, autograded/ and logs/ go")
    grade.add_argument("--workers", type=_positive, default=1, help="grade this many submissions at a time")
    grade.add_argument("--timeout", type=_positive, default=None,
                       help="seconds per answer cell and per exercise's checks (default: set per chapter from "
                            "the measured solution times)")
    grade.add_argument("--notebook-timeout", type=_positive, default=settings.NOTEBOOK_TIMEOUT,
                       help=f"seconds one submission may take in all (default {settings.NOTEBOOK_TIMEOUT})")
    grade.add_argument("--assignment", action="append", metavar="NAME",
                       help="grade only this assignment (repeatable); default: every assignment handed in")
    grade.add_argument("--roster", metavar="CSV",
                       help="the class list (a Canvas gradebook export, a Moodle grading worksheet, or a CSV with "
                            "an id column): the LMS files get a row for everyone on it, missing students listed")
    grade.add_argument("--partial-credit", action="store_true",
                       help="give each exercise its points times the share of its checks passed")
    grade.add_argument("--force", action="store_true", help="replace an existing OUT/grades.csv")
    grade.add_argument("--keep-work", action="store_true", help="keep the workers' course copies (for debugging)")
    grade.set_defaults(run=_cmd_autograde)
