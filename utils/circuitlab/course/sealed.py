"""The trusted grading process: runs each submission's cells in a sandboxed kernel and grades every
exercise here, through proxies, against the reference computed here.

Started by ``autograde`` as its own process (one per worker) with a job file; it writes one JSON
line per submission to its results file as soon as that submission is done, so a fault costs
at most the submission being graded. No student code runs in this process: the kernel is a
separate process, and what comes back from it is decoded as plain data (see ``bridge``).

Faults are contained per exercise. A cell that crashes the kernel, or runs past its limit and
ignores the interrupt, costs that exercise; the kernel is restarted, the cells that ran before
are run again, and grading goes on. The executed notebook is always written, for hand grading.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from circuitlab.course import sandbox
from circuitlab.course.bridge import (
    Channel, KernelDied, KernelHung, KernelSession, NotSealable, WireError,
)

MAX_RESTARTS = 3

# Per exercise statuses (the orchestrator shares these names).
GRADED = "graded"
TIMED_OUT = "timed out"
CRASHED = "kernel crashed"
NOT_SEALED = "needs a look"
FAILED = "grading failed"

# How an exercise is graded (a grade step's "mode"; see ``probe``).
SEALED = "sealed"  # in this process, through proxies
IN_KERNEL = "in kernel"  # by the exercise's checks run inside the student's kernel
PROBE = "probe"  # the reference, sealed; where that fails, also in the kernel
BY_HAND = "by hand"  # not even the reference passes: checked in the kernel, left for the instructor
IN_KERNEL_NOTE = "graded in the student's kernel (not sealed)"


@dataclass
class ExerciseResult:
    exercise: str
    status: str = GRADED
    score: float | None = 0.0
    passed: int = 0
    checks: int = 0
    report: str = ""
    detail: str = ""
    mode: str = SEALED  # how it was graded: SEALED or IN_KERNEL
    probe: str = ""  # probe runs only: why the reference did not pass sealed


@dataclass
class SubmissionResult:
    student: str
    assignment: str
    exercises: dict[str, ExerciseResult] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    restarts: int = 0


# --------------------------------------------------------------------------- what the kernel may import


def kernel_package(target: Path, keep_reference: set[int], graders: set[str] = frozenset()) -> Path:
    """A copy of the circuitlab package for student kernels, made of links, without the graders,
    the instructor tools, and the reference solutions of chapters whose helpers do not need them.

    ``graders``: the exercises checked inside the kernel (the probe found them not sealable);
    their graders are copied in (the originals stay hidden), and their chapters' references kept.
    Returns the folder to put first on the kernel's PYTHONPATH.
    """
    keep_reference = set(keep_reference) | {int(e[2:].split(".")[0]) for e in graders}
    import circuitlab

    source = Path(circuitlab.__file__).resolve().parent
    root = target / "site"
    package = root / "circuitlab"
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source)
        parts = relative.parts
        if "__pycache__" in parts or parts[0] == "course":
            continue
        if len(parts) >= 2 and parts[0].startswith("ch") and parts[1] == "graders":
            continue
        if len(parts) == 2 and parts[1] == "reference.py" and parts[0].startswith("ch") and \
                int(parts[0][2:] or -1) not in keep_reference:
            continue
        destination = package / relative
        if path.is_dir():
            destination.mkdir(parents=True, exist_ok=True)
        else:
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.symlink_to(path)
    (package / "course").mkdir(parents=True, exist_ok=True)
    (package / "course" / "__init__.py").write_text('"""Instructor tools are not available in a grading kernel."""\n')
    for exercise in sorted(graders):
        chapter, name = exercise.split(".", 1)
        folder = source / chapter / "graders"
        wanted = [folder / f"test_{name}.py", *folder.glob("_*.py"), *folder.glob("conftest.py")]
        for path in wanted:
            if path.is_file():
                (package / chapter / "graders").mkdir(parents=True, exist_ok=True)
                # A copy, not a link: the original folder is covered (hidden) inside the sandbox.
                shutil.copyfile(path, package / chapter / "graders" / path.name)
    return root


def chapters_needing_reference() -> set[int]:
    """Chapters whose own helper modules (models, training) import their reference solutions."""
    import circuitlab

    source = Path(circuitlab.__file__).resolve().parent
    needed = set()
    for path in source.rglob("*.py"):
        parts = path.relative_to(source).parts
        if parts[0] in ("course", "bench") or "graders" in parts or path.name == "reference.py":
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        for number in range(10):
            if f"circuitlab.ch{number}.reference" in text or f"circuitlab.ch{number} import reference" in text:
                needed.add(number)
    return needed


def hidden_from_kernels(keep_reference: set[int]) -> list[Path]:
    """The installed graders and the reference solutions a kernel has no reason to read."""
    import circuitlab

    source = Path(circuitlab.__file__).resolve().parent
    hidden = sorted(source.glob("ch*/graders"))
    hidden += [p for p in sorted(source.glob("ch*/reference.py")) if int(p.parent.name[2:]) not in keep_reference]
    return hidden


def fingerprint() -> dict[str, str]:
    """Hashes of the files that decide a score: the graders, the references, the grading code."""
    import circuitlab

    source = Path(circuitlab.__file__).resolve().parent
    deciding = [*source.glob("ch*/graders/*.py"), *source.glob("ch*/reference.py"), *source.glob("grading/*.py"),
                *source.glob("course/*.py")]
    return {str(p.relative_to(source)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(deciding)}


# --------------------------------------------------------------------------- one submission


@dataclass
class Job:
    student: str
    assignment: str
    chapter: int
    steps: list[dict[str, Any]]  # {"kind": "cell"|"grade", ...}; see plan.py
    notebook_path: str  # where the executed notebook goes
    cell_limit: float
    exercise_limit: float
    partial_credit: bool
    notes: list[str] = field(default_factory=list)


class Grader:
    """Grades jobs one after another; one kernel per submission."""

    def __init__(self, scratch: Path, kernel_env: dict[str, str], readonly: list[Path],
                 limits: sandbox.Limits, isolate: bool, hidden: list[Path] = ()) -> None:
        self.hidden = list(hidden)
        self.scratch = scratch
        self.kernel_env = kernel_env
        self.readonly = readonly
        self.limits = limits
        self.isolate = isolate
        # Inside the sandbox the package is read-only to the kernel; without it, a kernel running as
        # the same user could rewrite a grader, so every exercise first checks that none changed.
        self.trusted = fingerprint() if not isolate else None

    def kernel_for(self, job: Job) -> KernelSession:
        cwd = self.scratch / f"kernel-{abs(hash((job.student, job.assignment))) % 10**8}"
        cwd.mkdir(parents=True, exist_ok=True)
        env = dict(self.kernel_env)
        # Start-up files of the instructor's account (IPython profiles, matplotlib) are not read.
        env.update({"HOME": str(cwd), "IPYTHONDIR": str(cwd / ".ipython"), "MPLCONFIGDIR": str(cwd / ".mpl"),
                    "JUPYTER_RUNTIME_DIR": str(cwd / ".runtime")})
        wrapper = lambda argv: sandbox.wrap(argv, self.readonly, cwd, self.limits, self.isolate,
                                                self.hidden)  # noqa: E731
        return KernelSession(wrapper, env, cwd)

    def grade(self, job: Job) -> SubmissionResult:
        start = time.monotonic()
        result = SubmissionResult(job.student, job.assignment, notes=list(job.notes))
        executed: list[dict[str, Any]] = []
        kernel = self.kernel_for(job)
        try:
            self._run(job, kernel, result, executed)
        finally:
            kernel.stop()
            _write_notebook(Path(job.notebook_path), executed)
            result.seconds = time.monotonic() - start
        return result

    def _run(self, job: Job, kernel: KernelSession, result: SubmissionResult,
             executed: list[dict[str, Any]]) -> None:
        kernel.start()
        ran_ok: list[str] = []  # sources to replay after a restart
        faults: dict[str, ExerciseResult] = {}
        for step in job.steps:
            if step["kind"] == "cell":
                cell = {"cell_type": "code", "source": step["source"], "metadata": {}, "outputs": [],
                        "execution_count": None}
                executed.append(cell)
                fault = self._cell(kernel, step, job, cell, ran_ok, result)
                if fault and step.get("owner"):
                    faults.setdefault(step["owner"], fault)
                continue
            if step["kind"] == "markdown":
                executed.append({"cell_type": "markdown", "source": step["source"], "metadata": {}})
                continue
            exercise = step["exercise"]
            if result.restarts > MAX_RESTARTS:
                outcome = ExerciseResult(exercise, CRASHED, None,
                                         detail=f"the kernel died or hung {result.restarts} times; grade by hand")
            elif exercise in faults:
                outcome = faults[exercise]
            else:
                outcome = self._exercise(kernel, step, job, ran_ok, result)
            result.exercises[exercise] = outcome
            executed.append({"cell_type": "code", "source": step["test_source"], "metadata": {},
                             "execution_count": None,
                             "outputs": [{"output_type": "stream", "name": "stdout",
                                          "text": outcome.report or outcome.detail or outcome.status}]})

    def _cell(self, kernel: KernelSession, step: dict[str, Any], job: Job, cell: dict[str, Any],
              ran_ok: list[str], result: SubmissionResult) -> ExerciseResult | None:
        """Run one cell; a fatal fault is returned for the exercise it belongs to."""
        owner = step.get("owner") or ""
        try:
            run, _ = kernel.execute(step["source"], job.cell_limit)
        except (KernelDied, KernelHung) as exc:
            died = isinstance(exc, KernelDied)
            cell["outputs"] = [{"output_type": "stream", "name": "stderr",
                                "text": f"[grading] {'the kernel died' if died else 'the cell ignored the interrupt'}"
                                        f" while running this cell; the kernel was restarted\n"}]
            self._restart(kernel, job, ran_ok, result)
            if died:
                return ExerciseResult(owner, CRASHED, None, detail=f"the kernel died while running {_where(step)}: "
                                      "look at the executed notebook and grade by hand")
            return ExerciseResult(owner, TIMED_OUT, 0.0, detail=f"{_where(step)} ran past {job.cell_limit:g} s and "
                                  "ignored the interrupt; it was stopped")
        cell["outputs"] = run.outputs
        cell["execution_count"] = kernel.execution_count
        if run.status == "timeout":
            return ExerciseResult(owner, TIMED_OUT, 0.0,
                                  detail=f"{_where(step)} ran past {job.cell_limit:g} s and was interrupted")
        ran_ok.append(step["source"])
        return None

    def _restart(self, kernel: KernelSession, job: Job, ran_ok: list[str], result: SubmissionResult) -> None:
        result.restarts += 1
        if result.restarts > MAX_RESTARTS:
            kernel.stop()
            return
        kernel.restart()
        for source in ran_ok:
            try:
                kernel.execute(source, job.cell_limit, silent=True)
            except (KernelDied, KernelHung):
                result.restarts += 1
                kernel.restart()

    def _exercise(self, kernel: KernelSession, step: dict[str, Any], job: Job, ran_ok: list[str],
                  result: SubmissionResult) -> ExerciseResult:
        exercise = step["exercise"]
        if self.trusted is not None and fingerprint() != self.trusted:
            raise TamperedGraders("the grading package's files changed while a submission was graded")
        if step.get("zero_reason"):
            return ExerciseResult(exercise, detail=step["zero_reason"], report=f"❌ {exercise}: {step['zero_reason']}")
        mode = step.get("mode", SEALED)
        if mode == PROBE:
            return self._probe(kernel, step, job, ran_ok, result)
        if mode in (IN_KERNEL, BY_HAND):
            outcome = self._checked(kernel, step, job, ran_ok, result, in_kernel=True)
            outcome.detail = _join(IN_KERNEL_NOTE, outcome.detail)
            if mode == BY_HAND and outcome.status == GRADED:
                outcome.status, outcome.score = NOT_SEALED, None
                outcome.detail = _join(f"not even the reference solution passes this exercise's checks here "
                                       f"({step.get('why', 'see report.txt')}): grade by hand", outcome.detail)
            return outcome
        return self._checked(kernel, step, job, ran_ok, result, in_kernel=False)

    def _probe(self, kernel: KernelSession, step: dict[str, Any], job: Job, ran_ok: list[str],
               result: SubmissionResult) -> ExerciseResult:
        """The reference, sealed; where it does not earn full marks that way, checked in the kernel too."""
        sealed = self._checked(kernel, step, job, ran_ok, result, in_kernel=False)
        if sealed.status == GRADED and sealed.score == float(step["points"]):
            return sealed
        why = sealed.detail.removesuffix("; grade by hand") or sealed.status
        inside = self._checked(kernel, step, job, ran_ok, result, in_kernel=True)
        inside.probe = why
        return inside

    def _checked(self, kernel: KernelSession, step: dict[str, Any], job: Job, ran_ok: list[str],
                 result: SubmissionResult, in_kernel: bool) -> ExerciseResult:
        """One exercise's checks on the handed-in object: here through proxies, or inside the kernel."""
        exercise = step["exercise"]
        outcome = ExerciseResult(exercise, mode=IN_KERNEL if in_kernel else SEALED)
        if not kernel.alive():
            self._restart(kernel, job, ran_ok, result)
        channel = Channel(kernel, job.exercise_limit)
        try:
            kernel.install_bridge()
            if in_kernel:
                answer = channel.check_in_kernel(exercise, step["handed_in"], reference=step.get("mode") == PROBE)
                check = check_from_data(exercise, answer)
            else:
                check = _run_check(exercise, channel.lookup(step["handed_in"]))
        except (KernelDied, KernelHung) as exc:
            check = None
            channel.crashed, channel.hung = isinstance(exc, KernelDied), isinstance(exc, KernelHung)
        except TimeoutError:
            check = None
        except WireError as exc:
            outcome.detail = f"the kernel's answer could not be read: {exc}"
            outcome.report = f"❌ {exercise}: {outcome.detail}"
            return outcome
        except Exception as exc:  # a name that is not defined, a lookup that raised
            outcome.detail = f"{step['handed_in']} could not be found in the notebook ({exc})"
            outcome.report = f"❌ {exercise}: {outcome.detail}"
            return outcome
        if channel.crashed or channel.hung or not kernel.alive():
            self._restart(kernel, job, ran_ok, result)
        if check is None or channel.crashed:
            if channel.crashed and not channel.hung:
                return ExerciseResult(exercise, CRASHED, None, mode=outcome.mode,
                                      detail="the kernel died while this exercise was checked; grade by hand")
            return ExerciseResult(exercise, TIMED_OUT, 0.0, mode=outcome.mode,
                                  detail="a call ignored the interrupt and was stopped" if channel.hung else
                                  f"the checks ran past {job.exercise_limit:g} s and were stopped")
        outcome.checks = len(check.tests)
        outcome.passed = sum(1 for t in check.tests if t.passed)
        outcome.report = check.report()
        points = float(step["points"])
        if check.passed:
            outcome.score = points
        elif job.partial_credit and outcome.checks and not check.problem:
            outcome.score = round(points * outcome.passed / outcome.checks, 4)
        else:
            outcome.score = 0.0
        if not check.passed:
            outcome.detail = failure_summary(check)
        if channel.not_sealable:
            outcome.status, outcome.score = NOT_SEALED, None
            outcome.detail = f"cannot be graded sealed ({channel.not_sealable}); grade by hand"
        elif channel.timed_out or channel.hung:
            outcome.status = TIMED_OUT
            outcome.detail = _join("a call ran past its time limit and was stopped", outcome.detail)
        return outcome


MAX_DETAIL = 400


def failure_summary(check: Any) -> str:
    """Why a check did not pass, in one line: the problem, or the failing checks and their first message."""
    if check.problem:
        return check.problem[:MAX_DETAIL]
    failed = [t for t in check.tests if not t.passed]
    if not failed:
        return "no checks ran"
    messages: list[str] = []
    for test in failed:
        first = (test.message.strip().splitlines() or [""])[0]
        if first and first not in messages:
            messages.append(first)
    text = f"{len(failed)} of {len(check.tests)} checks failed: " + " | ".join(messages or [failed[0].name])
    return text if len(text) <= MAX_DETAIL else text[:MAX_DETAIL - 1] + "…"


def check_from_data(exercise: str, value: Any):
    """A check result from the kernel's plain answer, each piece type-checked."""
    from circuitlab.grading.engine import CheckResult, TestOutcome

    if not isinstance(value, dict) or not isinstance(value.get("problem"), str) or \
            not isinstance(value.get("tests"), list):
        raise WireError("the kernel's check result is not a mapping of a problem and tests")
    tests = []
    for item in value["tests"]:
        if not (isinstance(item, list) and len(item) == 4 and isinstance(item[0], str) and type(item[1]) is bool
                and isinstance(item[2], str) and type(item[3]) is bool):
            raise WireError("a test outcome from the kernel is malformed")
        tests.append(TestOutcome(item[0][:500], item[1], item[2][:4000], item[3]))
    return CheckResult(exercise, tests, value["problem"][:4000])


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)


class TamperedGraders(Exception):
    """The installed graders changed during the run: no later score can be trusted."""


def _where(step: dict[str, Any]) -> str:
    return step.get("label") or "a cell"


def _run_check(exercise: str, handed_in: Any):
    from circuitlab.grading.engine import run_check

    # The reference check compares identity and module; a proxy is neither, so nothing is skipped.
    return run_check(exercise, handed_in, record=False)


def _write_notebook(path: Path, cells: list[dict[str, Any]]) -> None:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    for cell in cells:
        if cell["cell_type"] == "markdown":
            notebook.cells.append(nbformat.v4.new_markdown_cell(cell["source"]))
        else:
            code = nbformat.v4.new_code_cell(cell["source"])
            code.outputs = [nbformat.from_dict(o) for o in cell.get("outputs", [])]
            code.execution_count = cell.get("execution_count")
            notebook.cells.append(code)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, str(path))


# --------------------------------------------------------------------------- the process


def main(argv: list[str] | None = None) -> int:
    """``python -m circuitlab.course.sealed JOBS.json RESULTS.jsonl``"""
    args = sys.argv[1:] if argv is None else argv
    config = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    results = Path(args[1])
    grader = Grader(Path(config["scratch"]), config["kernel_env"], [Path(p) for p in config["readonly"]],
                    sandbox.Limits(**config["limits"]), config["isolate"],
                    [Path(p) for p in config.get("hidden", [])])
    with open(results, "a", encoding="utf-8") as sink:
        for raw in config["jobs"]:
            job = Job(**raw)
            sink.write(json.dumps({"event": "start", "student": job.student, "assignment": job.assignment}) + "\n")
            sink.flush()
            try:
                outcome = grader.grade(job)
            except TamperedGraders as exc:
                sink.write(json.dumps({"event": "tampered", "student": job.student, "assignment": job.assignment,
                                       "message": str(exc)}) + "\n")
                return 3
            except Exception as exc:  # a bug here costs one submission, which is reported
                sink.write(json.dumps({"event": "failed", "student": job.student, "assignment": job.assignment,
                                       "message": f"{type(exc).__name__}: {exc}"}) + "\n")
                sink.flush()
                continue
            sink.write(json.dumps({"event": "done", **asdict(outcome)}) + "\n")
            sink.flush()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    sys.exit(main())
