"""``circuitlab autograde SUBMISSIONS --course DIR --out OUT_DIR``: grade a class, sealed.

How a class is graded:

1. Every student's notebooks are found in SUBMISSIONS (``intake``): each original name gets a
   stable id (``OUT/id_map.csv``); anything ambiguous is listed under "needs a look".
2. Each notebook is read, never run, in this process (``plan``): its answers are matched to the
   exercises wherever they sit, execution-changing metadata is ignored, copies of the published
   solution are flagged.
3. Which exercises can be graded sealed is measured first (``probe``): each assignment's
   reference is graded once through the sealed channel. Those that pass are sealed for everyone;
   the others are checked inside each student's kernel, and their rows say so.
4. The submissions are dealt out to N grading processes (``sealed``). Each runs a student's
   cells in a sandboxed kernel and grades every sealed exercise itself, through a channel that
   carries only data, against the reference it computes; student code never runs where such a
   score is decided.
5. Per-exercise grades, per-student totals, LMS gradebooks, feedback and a report are written.

The course directory and the submissions are only read.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import nbformat

from circuitlab.course import gradebook, probe, sandbox, settings
from circuitlab.course.intake import Intake, StudentFiles, collect, write_id_map
from circuitlab.course.plan import Plan, build_plan, exercise_name, published_shapes
from circuitlab.course.release import HIDDEN_MARKERS
from circuitlab.course.sealed import CRASHED, FAILED, GRADED, NOT_SEALED, TIMED_OUT
from circuitlab.course.submission import UnreadableNotebook, read_notebook

NOT_SUBMITTED = "not submitted"
INVALID = "invalid submission"
STATUSES = (GRADED, TIMED_OUT, CRASHED, NOT_SEALED, NOT_SUBMITTED, INVALID, FAILED)
CSV_COLUMNS = ("student", "assignment", "exercise", "score", "max_score", "status", "flag", "detail")
KERNEL_MEMORY = 6 * 1024**3
KERNEL_FILE_SIZE = 1024**3
MAX_WORKER_RESPAWNS = 5


class CourseError(Exception):
    """The course directory cannot be graded against; the message says why."""


@dataclass(frozen=True)
class GradedExercise:
    exercise: str  # e.g. "ch0.split_heads"
    test_id: str  # the test cell's nbgrader grade id
    max_score: float


@dataclass(frozen=True)
class Assignment:
    name: str
    notebook: str  # file name inside the assignment, e.g. "00_tools.ipynb"
    release_path: Path
    exercises: tuple[GradedExercise, ...]
    source_path: Path | None = None

    @property
    def chapter(self) -> int:
        numbers = {int(e.exercise[2:].split(".")[0]) for e in self.exercises if e.exercise.startswith("ch")}
        return min(numbers) if numbers else max(settings.SOLUTION_SECONDS)


@dataclass
class Outcome:
    """The result of grading one student's notebook for one assignment."""

    student: str
    assignment: str
    status: str
    detail: str = ""
    scores: dict[str, float | None] = field(default_factory=dict)  # test id -> score
    exercise_status: dict[str, str] = field(default_factory=dict)  # test id -> status, when it differs
    exercise_detail: dict[str, str] = field(default_factory=dict)
    flags: dict[str, str] = field(default_factory=dict)  # test id -> why flagged
    reports: dict[str, str] = field(default_factory=dict)  # test id -> the student's report
    stripped: list[str] = field(default_factory=list)
    seconds: float = 0.0
    feedback: Path | None = None


# --------------------------------------------------------------------------- the course


def read_course(course_dir: Path) -> dict[str, Assignment]:
    course_dir = Path(course_dir)
    if not (course_dir / "release").is_dir():
        raise CourseError(f"{course_dir} is not a released course (no release/). "
                          "Create it with `circuitlab release DIR` first.")
    assignments = {}
    for folder in sorted(p for p in (course_dir / "release").iterdir() if p.is_dir()):
        notebooks = sorted(folder.glob("*.ipynb"))
        if len(notebooks) != 1:
            raise CourseError(f"{folder} holds {len(notebooks)} notebooks; Circuit Lab assignments have one each.")
        release = nbformat.read(str(notebooks[0]), as_version=4)
        exercises = []
        for cell in release.cells:
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade") and not meta.get("solution"):
                exercises.append(GradedExercise(exercise_name(meta["grade_id"]), meta["grade_id"],
                                                float(meta.get("points", 0))))
        source = course_dir / "source" / folder.name / notebooks[0].name
        assignments[folder.name] = Assignment(folder.name, notebooks[0].name, notebooks[0], tuple(exercises),
                                              source if source.exists() else None)
    if not assignments:
        raise CourseError(f"{course_dir / 'release'} holds no assignments.")
    return assignments


# --------------------------------------------------------------------------- feedback text


def strip_hidden_tests(source: str) -> str:
    """Remove every BEGIN/END HIDDEN TESTS region from a cell's source."""
    kept, hidden = [], False
    for line in source.splitlines():
        if line.strip() == HIDDEN_MARKERS[0]:
            hidden = True
        elif line.strip() == HIDDEN_MARKERS[1]:
            hidden = False
        elif not hidden:
            kept.append(line)
    return "\n".join(kept)


def feedback_leaks(html: str) -> bool:
    return any(marker.replace("### ", "") in html for marker in HIDDEN_MARKERS)


# --------------------------------------------------------------------------- preparing jobs


def _reference_sources(assignment: Assignment) -> dict[str, str]:
    """Each exercise's shipped reference code, for copy flags."""
    import inspect

    from circuitlab.grading.registry import UnknownExercise, get_exercise

    found = {}
    for graded in assignment.exercises:
        try:
            found[graded.exercise] = inspect.getsource(get_exercise(graded.exercise).reference_object())
        except (UnknownExercise, OSError, TypeError, ImportError, AttributeError):
            continue
    return found


@dataclass
class Prepared:
    jobs: list[dict[str, Any]]
    plans: dict[tuple[str, str], Plan]
    invalid: dict[tuple[str, str], str]


def prepare_jobs(intake: Intake, assignments: dict[str, Assignment], work: Path, limits: "Limits") -> Prepared:
    releases = {name: nbformat.read(str(a.release_path), as_version=4) for name, a in assignments.items()}
    shapes = {}
    for name, assignment in assignments.items():
        source = nbformat.read(str(assignment.source_path), as_version=4) if assignment.source_path else {"cells": []}
        shapes[name] = published_shapes(source, _reference_sources(assignment))
    prepared = Prepared([], {}, {})
    for sid in sorted(intake.students):
        files = intake.students[sid]
        for name, assignment in assignments.items():
            if name not in files.notebooks:
                continue
            try:
                submitted = read_notebook(files.notebooks[name])
            except UnreadableNotebook as exc:
                prepared.invalid[(sid, name)] = str(exc)
                continue
            plan = build_plan(releases[name], submitted, shapes[name])
            prepared.plans[(sid, name)] = plan
            limit = limits.for_chapter(assignment.chapter)
            prepared.jobs.append({
                "student": sid, "assignment": name, "chapter": assignment.chapter, "steps": plan.steps,
                "notebook_path": str(work / "executed" / sid / name / assignment.notebook),
                "cell_limit": limit, "exercise_limit": limit, "partial_credit": limits.partial_credit,
                "notes": plan.notes,
            })
    return prepared


# --------------------------------------------------------------------------- grading processes


@dataclass
class Limits:
    cell_timeout: int | None  # None: per chapter, from measured solution times
    notebook_timeout: float
    partial_credit: bool = False

    def for_chapter(self, chapter: int) -> float:
        return float(self.cell_timeout or settings.chapter_time_limit(chapter))


def deal(students: list[Any], workers: int) -> list[list[Any]]:
    """Deal items round-robin to workers: every item in exactly one share."""
    shares: list[list[Any]] = [[] for _ in range(max(1, workers))]
    for position, item in enumerate(students):
        shares[position % len(shares)].append(item)
    return [share for share in shares if share]


def merge(results: list[list[Outcome]]) -> dict[tuple[str, str], Outcome]:
    """One outcome per (student, assignment); a key graded twice is a bug, not a tie to break."""
    merged: dict[tuple[str, str], Outcome] = {}
    for outcomes in results:
        for outcome in outcomes:
            key = (outcome.student, outcome.assignment)
            if key in merged:
                raise RuntimeError(f"{key} was graded by two workers")
            merged[key] = outcome
    return merged


def _readonly_folders(course_dir: Path, out_dir: Path, work: Path, submissions: Path) -> list[Path]:
    """What a kernel must not change: the installed package and environment, the course, the
    other submissions, the results."""
    import circuitlab

    package_root = Path(circuitlab.__file__).resolve().parents[1]
    project = package_root.parent if (package_root.parent / "pyproject.toml").exists() else package_root
    folders = [project, Path(sys.prefix).resolve(), course_dir, out_dir, work, submissions.resolve()]
    return [f for f in folders if f.is_dir()]


class GradingProcess:
    """One trusted grading process working through its share of jobs."""

    def __init__(self, index: int, root: Path, config: dict[str, Any], jobs: list[dict[str, Any]],
                 env: dict[str, str]) -> None:
        self.index, self.root, self.config, self.env = index, root, config, env
        self.pending = list(jobs)
        self.results = root / "results.jsonl"
        self.finished: dict[tuple[str, str], dict[str, Any]] = {}
        self.process: subprocess.Popen | None = None
        self.respawns = 0
        root.mkdir(parents=True, exist_ok=True)

    def start(self) -> None:
        job_file = self.root / f"jobs-{self.respawns}.json"
        job_file.write_text(json.dumps({**self.config, "jobs": self.pending,
                                        "scratch": str(self.root / "scratch")}), encoding="utf-8")
        package_parent = str(Path(__file__).resolve().parents[2])
        code = ("import sys; sys.path.insert(0, %r); from circuitlab.course.sealed import main; "
                "sys.exit(main(sys.argv[1:]))" % package_parent)
        # Isolated mode: no user site, no PYTHON* variables, no current folder on the path.
        self.process = subprocess.Popen([sys.executable, "-I", "-c", code, str(job_file), str(self.results)],
                                        cwd=self.root, env=self.env, stdin=subprocess.DEVNULL,
                                        stdout=open(self.root / "grader.log", "a"), stderr=subprocess.STDOUT)

    def collect(self) -> None:
        """Read what the process reported; after it ended, restart it for what is left."""
        events = []
        if self.results.exists():
            for line in self.results.read_text(encoding="utf-8").splitlines():
                try:
                    events.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        started = None
        for event in events:
            key = (event.get("student"), event.get("assignment"))
            if event["event"] == "start":
                started = key
            elif event["event"] in ("done", "failed", "tampered", "lost"):
                self.finished[key] = event
                started = None
        if self.process is not None and self.process.poll() is not None:
            if started and started not in self.finished:
                self.finished[started] = {"event": "lost", "student": started[0], "assignment": started[1],
                                          "message": "the grading process stopped while grading this submission"}
            if any(e["event"] == "tampered" for e in self.finished.values()):
                raise RuntimeError("The grading package changed on disk during grading: "
                                   + next(e["message"] for e in self.finished.values() if e["event"] == "tampered")
                                   + ". Reinstall Circuit Lab and grade again, in a container.")
            self.pending = [j for j in self.pending if (j["student"], j["assignment"]) not in self.finished]
            self.process = None
            if self.pending and self.respawns < MAX_WORKER_RESPAWNS:
                self.respawns += 1
                self.start()
            elif self.pending:
                for job in self.pending:
                    self.finished[(job["student"], job["assignment"])] = {
                        "event": "lost", "student": job["student"], "assignment": job["assignment"],
                        "message": "the grading process kept stopping; not graded"}
                self.pending = []

    @property
    def running(self) -> bool:
        return self.process is not None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            from circuitlab.course.runner import _stop_tree

            _stop_tree(self.process)


def run_processes(jobs: list[dict[str, Any]], workers: int, work: Path, config: dict[str, Any],
                  env: dict[str, str], deadline: float, report: Callable[[dict[str, Any]], None]) -> dict:
    shares = deal(jobs, min(workers, len(jobs)))
    pool = [GradingProcess(i, work / f"grader-{i}", config, share, env) for i, share in enumerate(shares)]
    for process in pool:
        process.start()
    reported: set[tuple[str, str]] = set()
    try:
        while any(p.running for p in pool):
            time.sleep(0.5)
            for process in pool:
                process.collect()
                for key, event in process.finished.items():
                    if key not in reported:
                        reported.add(key)
                        report(event)
            if time.monotonic() > deadline:
                for process in pool:
                    process.stop()
                    process.collect()
                break
    finally:
        for process in pool:
            process.stop()
    finished: dict[tuple[str, str], dict[str, Any]] = {}
    for process in pool:
        finished.update(process.finished)
    return finished


# --------------------------------------------------------------------------- outcomes


def outcome_from(event: dict[str, Any], assignment: Assignment, plan: Plan | None) -> Outcome:
    outcome = Outcome(event["student"], event["assignment"], GRADED, seconds=float(event.get("seconds", 0)))
    by_exercise = {e.exercise: e for e in assignment.exercises}
    if event["event"] != "done":
        outcome.status = FAILED
        outcome.detail = event.get("message", "not graded")
        return outcome
    for name, result in event.get("exercises", {}).items():
        graded = by_exercise.get(name)
        if graded is None:
            continue
        outcome.scores[graded.test_id] = result.get("score")
        outcome.reports[graded.test_id] = result.get("report", "")
        if result.get("status") != GRADED:
            outcome.exercise_status[graded.test_id] = result["status"]
        notes = [result.get("detail", "")] + (plan.exercise_notes.get(name, []) if plan else [])
        outcome.exercise_detail[graded.test_id] = _join(*notes)
        if plan and name in plan.flags:
            outcome.flags[graded.test_id] = f"copy: {plan.flags[name]}"
    for graded in assignment.exercises:
        if graded.test_id not in outcome.scores:
            outcome.scores[graded.test_id] = None
            outcome.exercise_status[graded.test_id] = FAILED
            outcome.exercise_detail[graded.test_id] = "not reached"
    outcome.detail = _join(*event.get("notes", []))
    if plan:
        outcome.stripped = list(plan.stripped)
    return outcome


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


def _score_text(score: float | None) -> str:
    return "" if score is None else f"{score:g}"


def table(students: dict[str, StudentFiles], assignments: dict[str, Assignment],
          outcomes: dict[tuple[str, str], Outcome]) -> list[dict[str, str]]:
    """Exactly one row per student, assignment and exercise."""
    rows = []
    for student in sorted(students):
        files = students[student]
        for name, assignment in assignments.items():
            outcome = outcomes.get((student, name))
            if outcome is None:
                if name in files.problems:
                    outcome = Outcome(student, name, INVALID, files.problems[name])
                else:
                    outcome = Outcome(student, name, NOT_SUBMITTED)
            for exercise in assignment.exercises:
                status = outcome.exercise_status.get(exercise.test_id, outcome.status)
                score = 0.0 if outcome.status == NOT_SUBMITTED else outcome.scores.get(exercise.test_id)
                detail = outcome.exercise_detail.get(exercise.test_id, "")
                if outcome.status != GRADED:  # a submission-wide problem: say it on every row it empties
                    detail = _join(detail, outcome.detail)
                rows.append({
                    "student": student, "assignment": name, "exercise": exercise.exercise,
                    "score": _score_text(score), "max_score": f"{exercise.max_score:g}", "status": status,
                    "flag": outcome.flags.get(exercise.test_id, ""), "detail": detail,
                })
    return rows


def write_csv(rows: list[dict[str, str]], path: Path, columns: tuple[str, ...] = CSV_COLUMNS) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)


# --------------------------------------------------------------------------- the class


@dataclass
class ClassResult:
    rows: list[dict[str, str]]
    outcomes: dict[tuple[str, str], Outcome]
    warnings: list[str]
    out_dir: Path
    needs_a_look: list[str] = field(default_factory=list)
    totals: list[dict[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    sandbox: str = ""
    removed_variables: list[str] = field(default_factory=list)
    sealing: dict[str, dict[str, probe.Sealing]] = field(default_factory=dict)  # assignment -> exercise -> mode

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes.values() if o.status == status)


def _select(assignments: dict[str, Assignment], only: list[str] | None) -> dict[str, Assignment]:
    if not only:
        return assignments
    unknown = sorted(set(only) - set(assignments))
    if unknown:
        raise CourseError(f"The course has no assignment {', '.join(unknown)}; it has {', '.join(assignments)}.")
    return {name: a for name, a in assignments.items() if name in only}


def grading_config(course_dir: Path, out_dir: Path, work: Path, submissions: Path, threads: int,
                   graders: set[str] = frozenset(), probe: bool = False,
                   ) -> tuple[dict[str, Any], dict[str, str], list[str], str]:
    """The grading processes' settings and environment, the variables removed, the sandbox state.

    ``graders``: the exercises checked inside the students' kernels (their graders are copied in).
    ``probe``: the settings of the reference probe, whose kernel runs only the installed
    references and so may import the whole package."""
    from circuitlab.course.sealed import chapters_needing_reference, hidden_from_kernels, kernel_package

    keep = chapters_needing_reference() | {int(e[2:].split(".")[0]) for e in graders}
    site = Path(__file__).resolve().parents[2] if probe else kernel_package(work / "kernel", keep, set(graders))
    kernel_env, removed = settings.without_plugin_variables(settings.kernel_environment(threads))
    kernel_env["PYTHONPATH"] = str(site)
    # Figures as plain JSON: the interactive renderer embeds all of plotly.js in every output,
    # which costs seconds per figure and megabytes per executed notebook.
    kernel_env["PLOTLY_RENDERER"] = "json"
    grader_env, _ = settings.without_plugin_variables(settings.kernel_environment(threads))
    grader_env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    missing = sandbox.namespaces_available()
    config = {
        "kernel_env": kernel_env,
        "readonly": [str(p) for p in _readonly_folders(course_dir, out_dir, work, submissions)],
        "limits": {"memory_bytes": KERNEL_MEMORY, "file_bytes": KERNEL_FILE_SIZE},
        "isolate": missing is None,
        "hidden": [] if probe else [str(p) for p in hidden_from_kernels(keep)],
    }
    state = ("each kernel in its own user, network, process and mount namespaces; no network; the package, "
             "course, submissions and results read-only" if missing is None else
             f"not available ({missing}): kernels run as plain child processes with resource limits only")
    return config, grader_env, removed, state


def run_probe(assignments: dict[str, Assignment], course_dir: Path, out_dir: Path, work: Path, submissions: Path,
              workers: int, limits: Limits, log: Callable[[str], None]) -> dict[str, dict[str, probe.Sealing]]:
    """Grade each assignment's reference once, sealed (see ``probe``): how each exercise is graded."""
    if not assignments:
        return {}
    shares = max(1, min(workers, len(assignments)))
    config, grader_env, _, _ = grading_config(course_dir, out_dir, work, submissions,
                                              max(1, (os.cpu_count() or 1) // shares), probe=True)
    jobs = []
    for name, assignment in assignments.items():
        release = nbformat.read(str(assignment.release_path), as_version=4)
        # The chapter's own limit at least: a probe cut short by a tight --timeout would grade in the kernel.
        limit = max(limits.for_chapter(assignment.chapter), float(settings.chapter_time_limit(assignment.chapter)))
        jobs.append({"student": probe.PROBE_STUDENT, "assignment": name, "chapter": assignment.chapter,
                     "steps": probe.probe_steps(release), "cell_limit": limit, "exercise_limit": limit,
                     "notebook_path": str(work / "probe" / name / assignment.notebook), "partial_credit": False,
                     "notes": []})
    log(f"Probing which exercises can be graded sealed ({', '.join(assignments)}): the reference, once per assignment.")
    start = time.monotonic()
    finished = run_processes(jobs, shares, work / "probe-graders", config, grader_env,
                             start + limits.notebook_timeout, lambda event: None)
    log(f"  probed in {time.monotonic() - start:.0f} s")
    decisions = {}
    for name, assignment in assignments.items():
        decisions[name] = probe.decide({e.exercise: e.max_score for e in assignment.exercises},
                                       finished.get((probe.PROBE_STUDENT, name)))
        modes = [s.mode for s in decisions[name].values()]
        log(f"  {name}: {modes.count(probe.SEALED)} sealed, {modes.count(probe.IN_KERNEL)} in the student's kernel"
            + (f", {modes.count(probe.BY_HAND)} by hand" if probe.BY_HAND in modes else ""))
    return decisions


def grade_class(submissions: Path, course_dir: Path, out_dir: Path, workers: int = 1,
                cell_timeout: int | None = None, notebook_timeout: float = settings.NOTEBOOK_TIMEOUT,
                only: list[str] | None = None, force: bool = False, keep_work: bool = False,
                log: Callable[[str], None] = print, roster: Path | None = None,
                partial_credit: bool = False) -> ClassResult:
    course_dir, out_dir = Path(course_dir).resolve(), Path(out_dir).resolve()
    assignments = _select(read_course(course_dir), only)
    if (out_dir / "grades.csv").exists() and not force:
        raise CourseError(f"{out_dir / 'grades.csv'} exists; grade into a new folder, or pass --force to replace it.")
    if workers < 1:
        raise CourseError("--workers must be at least 1.")
    roster_rows = gradebook.read_roster(Path(roster)) if roster else None
    out_dir.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="circuitlab-grading-"))
    try:
        intake: Intake = collect(Path(submissions), work / "intake", list(assignments))
        for warning in intake.warnings:
            log(f"warning: {warning}")
        if not only:  # grade the assignments somebody handed in, not every chapter of the course
            handed_in = {a for files in intake.students.values() for a in list(files.notebooks) + list(files.problems)}
            assignments = {name: a for name, a in assignments.items() if name in handed_in}
            if not assignments:
                raise CourseError(f"No notebook in {submissions} matches an assignment of the course "
                                  f"({', '.join(read_course(course_dir))}).")
        limits = Limits(cell_timeout, notebook_timeout, partial_credit)
        prepared = prepare_jobs(intake, assignments, work, limits)
        shares = max(1, min(workers, len(prepared.jobs)))
        threads = max(1, (os.cpu_count() or 1) // shares)
        graded = {job["assignment"] for job in prepared.jobs}
        sealing = run_probe({n: a for n, a in assignments.items() if n in graded}, course_dir, out_dir, work,
                            Path(submissions), workers, limits, log)
        for job in prepared.jobs:
            job["steps"] = probe.apply(job["steps"], sealing[job["assignment"]])
        config, grader_env, removed, sandbox_state = grading_config(course_dir, out_dir, work, Path(submissions),
                                                                    threads, probe.exercises_in_kernel(sealing))
        if removed:
            log(f"removed from the grading environment: {', '.join(removed)}")
        log(f"Grading {len(prepared.jobs)} notebooks of {len(intake.students)} students ({', '.join(assignments)}) "
            f"with {shares} grading process(es); sandbox: {sandbox_state}.")
        done = [0]

        def report(event: dict[str, Any]) -> None:
            done[0] += 1
            log(f"[{done[0]}/{len(prepared.jobs)}] {event.get('student')} {event.get('assignment')}: "
                f"{'graded' if event['event'] == 'done' else event.get('message', event['event'])}")

        deadline = time.monotonic() + notebook_timeout * max(1, -(-len(prepared.jobs) // shares))
        finished = run_processes(prepared.jobs, shares, work / "graders", config, grader_env, deadline, report) \
            if prepared.jobs else {}
        outcomes: dict[tuple[str, str], Outcome] = {}
        for job in prepared.jobs:
            key = (job["student"], job["assignment"])
            event = finished.get(key, {"event": "lost", "student": key[0], "assignment": key[1],
                                       "message": f"grading did not finish within {notebook_timeout:.0f} s per "
                                                  "submission"})
            outcomes[key] = outcome_from(event, assignments[key[1]], prepared.plans.get(key))
        for key, why in prepared.invalid.items():
            outcomes[key] = Outcome(key[0], key[1], INVALID, why)
        rows = table(intake.students, assignments, outcomes)
        expected = sum(len(a.exercises) for a in assignments.values()) * len(intake.students)
        if len(rows) != expected or len({(r["student"], r["assignment"], r["exercise"]) for r in rows}) != expected:
            raise RuntimeError(f"grades table has {len(rows)} rows, expected {expected}")
        result = ClassResult(rows, outcomes, intake.warnings, out_dir, list(intake.needs_a_look),
                             sandbox=sandbox_state, removed_variables=removed, sealing=sealing)
        _write_outputs(result, intake, assignments, work, roster_rows)
        return result
    finally:
        if keep_work:
            log(f"work folders kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _write_outputs(result: ClassResult, intake: Intake, assignments: dict[str, Assignment], work: Path,
                   roster_rows: list[dict[str, str]] | None) -> None:
    from circuitlab.course import feedback

    out_dir = result.out_dir
    write_csv(result.rows, out_dir / "grades.csv")
    write_id_map(intake, out_dir / "id_map.csv")
    result.totals = gradebook.totals(result.rows, intake.students, assignments)
    write_csv(result.totals, out_dir / "totals.csv", gradebook.TOTAL_COLUMNS)
    result.missing = gradebook.write_lms_files(result.totals, intake.students, assignments, out_dir, roster_rows,
                                               result.needs_a_look)
    for (student, name), outcome in result.outcomes.items():
        executed = work / "executed" / student / name / assignments[name].notebook
        if not executed.exists():
            continue
        kept = out_dir / "autograded" / student / name / assignments[name].notebook
        kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(executed, kept)
        outcome.feedback = feedback.write_feedback(kept, outcome, assignments[name],
                                                   out_dir / "feedback" / student / name, [work, out_dir])
    (out_dir / "warnings.txt").write_text("".join(w + "\n" for w in intake.warnings), encoding="utf-8")
    probe.write(result.sealing, out_dir / "sealing.json")
    (out_dir / "report.txt").write_text(report_text(result), encoding="utf-8")


def report_text(result: ClassResult) -> str:
    lines = ["Circuit Lab autograde report", "", f"sandbox: {result.sandbox}"]
    if result.removed_variables:
        lines.append("removed from the grading environment: " + ", ".join(result.removed_variables))
    look = list(result.needs_a_look)
    for outcome in sorted(result.outcomes.values(), key=lambda o: (o.student, o.assignment)):
        if outcome.stripped:
            lines.append(f"ignored in {outcome.student} {outcome.assignment}: " + ", ".join(outcome.stripped))
        bad = {t: s for t, s in outcome.exercise_status.items()}
        if outcome.status != GRADED or bad:
            parts = [f"{exercise_name(t)}: {s} ({outcome.exercise_detail.get(t, '')})" for t, s in sorted(bad.items())]
            look.append(f"{outcome.student} {outcome.assignment}: {outcome.status}. " +
                        "; ".join(([outcome.detail] if outcome.detail else []) + parts))
        for test_id, flag in sorted(outcome.flags.items()):
            lines.append(f"flagged {outcome.student} {exercise_name(test_id)}: {flag}")
    lines += probe.report_lines(result.sealing)
    lines += ["", f"needs a look ({len(look)}):"] + [f"  {item}" for item in look]
    if result.missing:
        lines += ["", f"missing: on the roster, no submission ({len(result.missing)}):"] + \
                 [f"  {name}" for name in result.missing]
    return "\n".join(lines) + "\n"


def summary(result: ClassResult) -> str:
    lines = [f"wrote {result.out_dir / 'grades.csv'} ({len(result.rows)} rows), totals.csv, id_map.csv, "
             f"gradebook_canvas.csv, gradebook_moodle_*.csv and report.txt"]
    by_status: dict[str, int] = {}
    for row in result.rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    lines.append("rows by status: " + ", ".join(f"{s} {n}" for s, n in sorted(by_status.items())))
    lines.append(f"sandbox: {result.sandbox}")
    flagged = sum(len(o.flags) for o in result.outcomes.values())
    if flagged:
        lines.append(f"{flagged} answer(s) flagged as copies of the published solution: see report.txt")
    attention = [o for o in result.outcomes.values() if o.status != GRADED or o.exercise_status]
    for outcome in sorted(attention, key=lambda o: (o.student, o.assignment)):
        statuses = sorted(set(outcome.exercise_status.values()) | {outcome.status})
        lines.append(f"  check {outcome.student} {outcome.assignment}: {', '.join(statuses)}. {outcome.detail}".rstrip())
    if result.needs_a_look:
        lines.append(f"{len(result.needs_a_look)} submission(s) need a look: see {result.out_dir / 'report.txt'}")
    if result.missing:
        lines.append(f"{len(result.missing)} student(s) on the roster handed in nothing: see report.txt")
    return "\n".join(lines)
