"""``circuitlab autograde SUBMISSIONS --course DIR --out OUT_DIR``: grade a class.

How a class is graded:

1. Every student's notebooks are found in SUBMISSIONS (folders or zips, see ``intake``) and each
   is prepared (``submission``): unreadable files are reported, deleted graded cells restored.
2. The students are dealt out to N workers. nbgrader's gradebook is one sqlite file and its
   autograder is sequential, so each worker grades its share in its own copy of the course, with
   its own gradebook; one nbgrader process per submission, so a submission that kills its kernel
   or hangs is seen as exactly that, and the others go on.
3. Scores are read from each worker's gradebook (the points of record, whatever the submitted
   metadata says) and merged into one table with exactly one row per student, assignment and
   exercise.
4. Feedback HTML is generated per submission, after any hidden tests are removed from the graded
   notebook; a feedback file that would still show one is withheld.

The course directory and the submissions are only read.
"""
from __future__ import annotations

import csv
import re
import shutil
import stat
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import nbformat

from circuitlab.course import settings
from circuitlab.course.intake import Intake, StudentFiles, collect
from circuitlab.course.release import HIDDEN_MARKERS
from circuitlab.course.runner import run_nbgrader
from circuitlab.course.submission import UnreadableNotebook, grade_id_of, prepare
from circuitlab.threads import per_worker

GRADED = "graded"
TIMED_OUT = "timed out"
CRASHED = "kernel crashed"
NOT_SUBMITTED = "not submitted"
INVALID = "invalid submission"
FAILED = "grading failed"
STATUSES = (GRADED, TIMED_OUT, CRASHED, NOT_SUBMITTED, INVALID, FAILED)
CSV_COLUMNS = ("student", "assignment", "exercise", "score", "max_score", "status", "detail")

TIMEOUT_ERRORS = {"CellTimeoutError"}
DEAD_KERNEL_SIGNS = ("DeadKernelError", "Kernel died", "kernel died")
# nbgrader stops a notebook whose kernel keeps running after the interrupt sent at the cell timeout.
UNANSWERED_TIMEOUT_SIGNS = ("CellTimeoutError", "Timeout waiting for execute reply", "Timeout waiting for IOPub")


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
    seconds: float = 0.0
    feedback: Path | None = None


# --------------------------------------------------------------------------- the course


def exercise_name(test_id: str) -> str:
    """``ch0-split_heads-test`` -> ``ch0.split_heads``; other ids are kept as they are."""
    base = test_id.removesuffix("-test")
    found = re.fullmatch(r"(ch\d+)-(.+)", base)
    return f"{found.group(1)}.{found.group(2)}" if found else base


def read_course(course_dir: Path) -> dict[str, Assignment]:
    course_dir = Path(course_dir)
    if not (course_dir / "release").is_dir() or not (course_dir / "gradebook.db").is_file():
        raise CourseError(f"{course_dir} is not a released course (no release/ or gradebook.db). "
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
        assignments[folder.name] = Assignment(folder.name, notebooks[0].name, notebooks[0], tuple(exercises))
    if not assignments:
        raise CourseError(f"{course_dir / 'release'} holds no assignments.")
    return assignments


# --------------------------------------------------------------------------- reading results


def timed_out_tests(notebook_path: Path, assignment: Assignment) -> dict[str, int]:
    """Test ids whose part of the notebook hit the cell timeout, with the cell's index.

    A timeout in an answer or test cell belongs to that exercise; in a cell between exercises, to
    the exercise above it; before the first exercise (imports, setup), to every exercise.
    """
    notebook = nbformat.read(str(notebook_path), as_version=4)
    test_ids = {e.test_id for e in assignment.exercises}
    owner: list[str | None] = []
    current: str | None = None
    for cell in notebook.cells:
        grade_id = grade_id_of(cell)
        if grade_id in test_ids:
            current = grade_id
        elif grade_id and f"{grade_id}-test" in test_ids:
            current = f"{grade_id}-test"
        owner.append(current)
    found: dict[str, int] = {}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type != "code":
            continue
        if any(out.get("output_type") == "error" and out.get("ename") in TIMEOUT_ERRORS for out in cell.get("outputs", [])):
            for test_id in ([owner[index]] if owner[index] else sorted(test_ids)):
                found.setdefault(test_id, index)
    return found


def read_scores(course_dir: Path, assignment: Assignment, student: str) -> dict[str, float | None]:
    """Scores from a gradebook: the points of record, whatever the submitted metadata claims."""
    from nbgrader.api import Gradebook, MissingEntry

    scores: dict[str, float | None] = {}
    notebook_id = Path(assignment.notebook).stem
    with Gradebook(f"sqlite:///{Path(course_dir) / 'gradebook.db'}") as gradebook:
        for exercise in assignment.exercises:
            try:
                grade = gradebook.find_grade(exercise.test_id, notebook_id, assignment.name, student)
            except MissingEntry:
                scores[exercise.test_id] = None
                continue
            if grade.auto_score is None and grade.manual_score is None:
                scores[exercise.test_id] = None
            else:
                scores[exercise.test_id] = float(grade.score)
    return scores


def last_error_line(log: str) -> str:
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        if "Error" in line or "error" in line:
            return line[:300]
    return lines[-1][:300] if lines else "no output"


# --------------------------------------------------------------------------- feedback


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


def scrub_graded_notebook(path: Path) -> None:
    """Remove hidden tests from a graded notebook before nbgrader renders feedback from it."""
    notebook = nbformat.read(str(path), as_version=4)
    changed = False
    for cell in notebook.cells:
        if any(marker in cell.source for marker in HIDDEN_MARKERS):
            cell.source = strip_hidden_tests(cell.source)
            changed = True
    if changed:
        path.chmod(path.stat().st_mode | stat.S_IWUSR)  # nbgrader writes graded notebooks read-only
        nbformat.write(notebook, str(path))


def feedback_leaks(html: str) -> bool:
    return any(marker.replace("### ", "") in html for marker in HIDDEN_MARKERS)


# --------------------------------------------------------------------------- workers


@dataclass
class Limits:
    cell_timeout: int | None  # None: the course's nbgrader_config.py decides
    notebook_timeout: float


class Worker:
    """Grades a share of the students in a private copy of the course (its own gradebook)."""

    def __init__(self, index: int, root: Path, course_dir: Path, assignments: dict[str, Assignment],
                 limits: Limits, env: dict[str, str], report: Callable[[Outcome], None]) -> None:
        self.index = index
        self.root = root
        self.assignments = assignments
        self.limits = limits
        self.env = env
        self.report = report
        root.mkdir(parents=True)
        for name in (settings.CONFIG_FILE, "gradebook.db"):
            if (course_dir / name).exists():
                shutil.copy2(course_dir / name, root / name)
        for folder in ("source", "release"):
            shutil.copytree(course_dir / folder, root / folder)

    def options(self) -> list[str]:
        extra = ["--Execute.kernel_name=" + settings.KERNEL_NAME]
        if self.limits.cell_timeout:
            extra.append(f"--Execute.timeout={int(self.limits.cell_timeout)}")
        return extra

    def log_path(self, student: str, assignment: str, step: str) -> Path:
        return self.root / "logs" / student / f"{assignment}.{step}.log"

    def grade_submission(self, files: StudentFiles, assignment: Assignment) -> Outcome:
        start = time.monotonic()
        outcome = Outcome(files.student, assignment.name, GRADED)
        target = self.root / "submitted" / files.student / assignment.name / assignment.notebook
        try:
            prepared = prepare(files.notebooks[assignment.name], assignment.release_path, target)
        except UnreadableNotebook as exc:
            outcome.status, outcome.detail = INVALID, str(exc)
            return outcome
        notes = []
        if prepared.matched_by_content:
            notes.append("handed in without nbgrader metadata; graded cells found by content")
        if prepared.restored:
            notes.append("restored from the release: " + ", ".join(prepared.restored))
        finished = run_nbgrader(["autograde", assignment.name, "--student", files.student, "--force", *self.options()],
                                self.root, self.env, self.limits.notebook_timeout,
                                self.log_path(files.student, assignment.name, "autograde"))
        outcome.seconds = time.monotonic() - start
        graded_path = self.root / "autograded" / files.student / assignment.name / assignment.notebook
        if finished.stopped:
            outcome.status = TIMED_OUT
            notes.insert(0, f"grading stopped after {self.limits.notebook_timeout:.0f} s (kernel did not answer "
                            "the interrupt at the cell timeout)")
        elif finished.returncode != 0 or not graded_path.exists():
            if any(sign in finished.log for sign in DEAD_KERNEL_SIGNS):
                outcome.status = CRASHED
                notes.insert(0, "the kernel died while running this notebook (os._exit, a segfault or running out "
                                "of memory); no score was recorded: look at the notebook and grade by hand")
            elif any(sign in finished.log for sign in UNANSWERED_TIMEOUT_SIGNS):
                outcome.status = TIMED_OUT
                notes.insert(0, "a cell ran past the cell timeout and the kernel did not answer the interrupt "
                                "(nbgrader gave up on the notebook); no score was recorded")
            else:
                outcome.status = FAILED
                notes.insert(0, f"nbgrader autograde failed: {last_error_line(finished.log)}")
        else:
            outcome.scores = read_scores(self.root, assignment, files.student)
            for test_id, cell_index in timed_out_tests(graded_path, assignment).items():
                outcome.exercise_status[test_id] = TIMED_OUT
                outcome.exercise_detail[test_id] = f"cell {cell_index} hit the cell timeout and was interrupted"
            missing = [t for t, s in outcome.scores.items() if s is None and t not in outcome.exercise_status]
            for test_id in missing:
                outcome.exercise_status[test_id] = FAILED
                outcome.exercise_detail[test_id] = "nbgrader recorded no automatic score"
        outcome.detail = "; ".join(notes)
        return outcome

    def feedback(self, outcomes: list[Outcome]) -> None:
        """Render feedback for this worker's graded submissions, one assignment at a time."""
        for assignment in self.assignments.values():
            graded = [o for o in outcomes if o.assignment == assignment.name and o.status == GRADED]
            if not graded:
                continue
            for outcome in graded:
                scrub_graded_notebook(self.root / "autograded" / outcome.student / assignment.name / assignment.notebook)
            run_nbgrader(["generate_feedback", assignment.name, "--force"], self.root, self.env,
                         self.limits.notebook_timeout, self.root / "logs" / f"feedback-{assignment.name}.log")
            for outcome in graded:
                html = self.root / "feedback" / outcome.student / assignment.name / (Path(assignment.notebook).stem + ".html")
                if not html.exists():
                    outcome.detail = _join(outcome.detail, "no feedback file was produced")
                elif feedback_leaks(html.read_text(encoding="utf-8", errors="replace")):
                    html.unlink()
                    outcome.detail = _join(outcome.detail, "feedback withheld: it would show hidden tests")
                else:
                    outcome.feedback = html

    def run(self, share: list[StudentFiles]) -> list[Outcome]:
        outcomes = []
        for files in share:
            for name, assignment in self.assignments.items():
                if name not in files.notebooks:
                    continue
                try:
                    outcome = self.grade_submission(files, assignment)
                except Exception as exc:  # a bug here must cost one submission, not the class
                    outcome = Outcome(files.student, name, FAILED, f"{type(exc).__name__}: {exc}")
                outcomes.append(outcome)
                self.report(outcome)
        try:
            self.feedback(outcomes)
        except Exception as exc:
            for outcome in outcomes:
                outcome.detail = _join(outcome.detail, f"feedback failed: {type(exc).__name__}: {exc}")
        return outcomes


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


# --------------------------------------------------------------------------- the class


@dataclass
class ClassResult:
    rows: list[dict[str, str]]
    outcomes: dict[tuple[str, str], Outcome]
    warnings: list[str]
    out_dir: Path

    def count(self, status: str) -> int:
        return sum(1 for o in self.outcomes.values() if o.status == status)


def deal(students: list[StudentFiles], workers: int) -> list[list[StudentFiles]]:
    """Deal students round-robin to workers: every student in exactly one share."""
    shares: list[list[StudentFiles]] = [[] for _ in range(max(1, workers))]
    for position, files in enumerate(students):
        shares[position % len(shares)].append(files)
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


def _score_text(score: float | None) -> str:
    if score is None:
        return ""
    return f"{score:g}"


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
                if outcome.status == NOT_SUBMITTED:
                    score: float | None = 0.0
                else:
                    score = outcome.scores.get(exercise.test_id)
                rows.append({
                    "student": student, "assignment": name, "exercise": exercise.exercise,
                    "score": _score_text(score), "max_score": f"{exercise.max_score:g}", "status": status,
                    "detail": _join(outcome.exercise_detail.get(exercise.test_id, ""), outcome.detail),
                })
    return rows


def write_csv(rows: list[dict[str, str]], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def _copy_results(worker_root: Path, outcome: Outcome, assignment: Assignment, out_dir: Path) -> None:
    """Feedback, graded notebook and logs of one submission into OUT_DIR."""
    where = Path(outcome.student) / outcome.assignment
    if outcome.feedback is not None:
        target = out_dir / "feedback" / where / outcome.feedback.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(outcome.feedback, target)
        outcome.feedback = target
    graded = worker_root / "autograded" / where / assignment.notebook
    if graded.exists():
        target = out_dir / "autograded" / where / assignment.notebook
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(graded, target)
    for log in (worker_root / "logs" / outcome.student).glob(f"{outcome.assignment}.*.log"):
        target = out_dir / "logs" / outcome.student / log.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(log, target)


def grade_class(submissions: Path, course_dir: Path, out_dir: Path, workers: int = 1,
                cell_timeout: int | None = None, notebook_timeout: float = settings.NOTEBOOK_TIMEOUT,
                only: list[str] | None = None, force: bool = False, keep_work: bool = False,
                log: Callable[[str], None] = print) -> ClassResult:
    course_dir, out_dir = Path(course_dir).resolve(), Path(out_dir).resolve()
    assignments = read_course(course_dir)
    if only:
        unknown = sorted(set(only) - set(assignments))
        if unknown:
            raise CourseError(f"The course has no assignment {', '.join(unknown)}; it has {', '.join(assignments)}.")
        assignments = {name: a for name, a in assignments.items() if name in only}
    if (out_dir / "grades.csv").exists() and not force:
        raise CourseError(f"{out_dir / 'grades.csv'} exists; grade into a new folder, or pass --force to replace it.")
    if workers < 1:
        raise CourseError("--workers must be at least 1.")
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
        students = [intake.students[s] for s in sorted(intake.students)]
        total = sum(len(files.notebooks) for files in students)
        shares = deal(students, min(workers, len(students)))
        threads = per_worker(len(shares))  # the cores this process may use, shared out among the workers
        env = settings.kernel_environment(threads)
        limits = Limits(cell_timeout, notebook_timeout)
        lock, done = threading.Lock(), [0]

        def report(outcome: Outcome) -> None:
            with lock:
                done[0] += 1
                got = sum(s for s in outcome.scores.values() if s is not None)
                scored = f" {got:g}/{sum(e.max_score for e in assignments[outcome.assignment].exercises):g}" \
                    if outcome.status == GRADED else ""
                log(f"[{done[0]}/{total}] {outcome.student} {outcome.assignment}: {outcome.status}{scored} "
                    f"({outcome.seconds:.0f} s)")

        log(f"Grading {total} notebooks of {len(students)} students ({', '.join(assignments)}) "
            f"with {len(shares)} worker(s).")
        pool = [Worker(i, work / f"worker-{i}", course_dir, assignments, limits, env, report)
                for i in range(len(shares))]
        with ThreadPoolExecutor(max_workers=len(pool)) as executor:
            results = list(executor.map(lambda pair: pair[0].run(pair[1]), zip(pool, shares)))
        outcomes = merge(results)
        for worker, share in zip(pool, shares):
            for files in share:
                for name, assignment in assignments.items():
                    if (files.student, name) in outcomes:
                        _copy_results(worker.root, outcomes[(files.student, name)], assignment, out_dir)
        rows = table(intake.students, assignments, outcomes)
        expected = sum(len(a.exercises) for a in assignments.values()) * len(intake.students)
        if len(rows) != expected or len({(r["student"], r["assignment"], r["exercise"]) for r in rows}) != expected:
            raise RuntimeError(f"grades table has {len(rows)} rows, expected {expected}")
        write_csv(rows, out_dir / "grades.csv")
        (out_dir / "warnings.txt").write_text("".join(w + "\n" for w in intake.warnings), encoding="utf-8")
        return ClassResult(rows, outcomes, intake.warnings, out_dir)
    finally:
        if keep_work:
            log(f"work folders kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def summary(result: ClassResult) -> str:
    lines = [f"wrote {result.out_dir / 'grades.csv'} ({len(result.rows)} rows)"]
    by_status: dict[str, int] = {}
    for row in result.rows:
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    lines.append("rows by status: " + ", ".join(f"{s} {n}" for s, n in sorted(by_status.items())))
    attention = [o for o in result.outcomes.values() if o.status != GRADED or o.exercise_status]
    for outcome in sorted(attention, key=lambda o: (o.student, o.assignment)):
        statuses = sorted(set(outcome.exercise_status.values()) | {outcome.status})
        per_exercise = [f"{exercise_name(test_id)}: {text}" for test_id, text in sorted(outcome.exercise_detail.items())]
        detail = "; ".join([outcome.detail] * bool(outcome.detail) + per_exercise)
        lines.append(f"  check {outcome.student} {outcome.assignment}: {', '.join(statuses)}. {detail}".rstrip())
    if result.warnings:
        lines.append(f"{len(result.warnings)} warning(s) about the submissions: see {result.out_dir / 'warnings.txt'}")
    return "\n".join(lines)
