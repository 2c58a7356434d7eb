"""The grading engine: run an exercise's pytest grader with the learner's object injected.

The learner's object is injected as *data* (``testing.CONTEXT``), never as a pytest
fixture: a conftest fixture would silently shadow a plugin fixture and grade the wrong
object.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from circuitlab.grading.registry import Exercise, UnknownExercise, get_exercise
from circuitlab.grading.testing import CONTEXT, GradingFailure, NotAttempted, learner_line

PYTEST_INI = Path(__file__).with_name("graders.ini")
PROGRESS_LOG_VARIABLE = "CIRCUITLAB_PROGRESS_LOG"


@dataclass
class TestOutcome:
    name: str
    passed: bool
    message: str = ""
    not_attempted: bool = False


@dataclass
class CheckResult:
    """What one check found. ``status`` is 'passed', 'failed' or 'not_attempted'."""

    id: str
    tests: list[TestOutcome] = field(default_factory=list)
    problem: str = ""  # a failure before any test ran (bad input, unknown id, reference handed in)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.problem and bool(self.tests) and all(t.passed for t in self.tests)

    @property
    def status(self) -> str:
        if self.passed:
            return "passed"
        if not self.problem and self.tests and all(t.passed or t.not_attempted for t in self.tests):
            return "not_attempted"
        return "failed"

    def to_json(self) -> dict[str, Any]:
        tests = [{"name": t.name, "passed": t.passed, "message": t.message} for t in self.tests]
        if self.problem:
            tests.insert(0, {"name": "submission", "passed": False, "message": self.problem})
        return {"id": self.id, "passed": self.passed, "tests": tests}

    def report(self) -> str:
        """The short report shown under a check cell."""
        if self.problem:
            return f"❌ {self.id}: {self.problem}"
        n = len(self.tests)
        if self.passed:
            return f"✅ {self.id}: all {n} checks passed."
        if self.status == "not_attempted":
            return f"⏳ {self.id}: not attempted yet. The stub still raises NotImplementedError; write your code in it."
        failed = [t for t in self.tests if not t.passed]
        lines = [f"❌ {self.id}: {len(failed)} of {n} checks failed."]
        shown_messages: set[str] = set()
        for outcome in self.tests:
            mark = "✔" if outcome.passed else "✘"
            lines.append(f"  {mark} {outcome.name}")
            if not outcome.passed and outcome.message:
                if outcome.message in shown_messages:
                    lines.append("      (same problem as above)")
                else:
                    shown_messages.add(outcome.message)
                    lines.extend("      " + line for line in outcome.message.splitlines())
        lines.append(f'  Stuck? hint("{self.id}") gives a nudge.')
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<CheckResult {self.id}: {self.status}>"

    def _ipython_display_(self) -> None:
        # check() has already printed the report; showing the object again would repeat it.
        pass


class _Collector:
    """A pytest plugin that records each test's outcome and turns failures into learner messages."""

    def __init__(self) -> None:
        self.outcomes: dict[str, TestOutcome] = {}
        self.order: list[str] = []
        self.collection_errors: list[str] = []

    @staticmethod
    def _title(item: Any) -> str:
        doc = getattr(getattr(item, "function", None), "__doc__", None)
        if doc and doc.strip():
            title = doc.strip().splitlines()[0]
        else:
            title = item.name.removeprefix("test_").replace("_", " ")
        if getattr(item, "callspec", None) is not None:
            title += f" [{item.callspec.id}]"
        return title

    def pytest_collectreport(self, report: Any) -> None:
        if report.failed:
            self.collection_errors.append(str(report.longrepr))

    def pytest_runtest_makereport(self, item: Any, call: Any) -> None:
        if call.when not in ("setup", "call"):
            return
        if call.excinfo is None and call.when == "setup":
            return
        if item.nodeid not in self.outcomes:
            self.order.append(item.nodeid)
        title = self._title(item)
        if call.excinfo is None:
            self.outcomes[item.nodeid] = TestOutcome(title, True)
            return
        exc = call.excinfo.value
        self.outcomes[item.nodeid] = TestOutcome(title, False, _message_for(exc), isinstance(exc, NotAttempted))

    def results(self) -> list[TestOutcome]:
        return [self.outcomes[node] for node in self.order if node in self.outcomes]


def _message_for(exc: BaseException) -> str:
    if isinstance(exc, GradingFailure):
        return str(exc)
    if isinstance(exc, AssertionError):
        # A plain assert in a grader: its message is the hint; drop pytest's rewritten detail.
        text = str(exc).split("\nassert ")[0].strip()
        return text or "A check failed."
    if isinstance(exc, NotImplementedError):
        return "The stub still raises NotImplementedError: replace it with your implementation."
    line = learner_line(exc)
    where = f"\n    at {line}" if line else ""
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {detail}{where}"


def _looks_like_reference(obj: Any, exercise: Exercise) -> bool:
    try:
        if obj is exercise.reference_object():
            return True
    except Exception:
        return False
    module = getattr(obj, "__module__", None) or getattr(type(obj), "__module__", "")
    return isinstance(module, str) and module == f"{exercise.package}.reference"


def _torch_grad_enabled():
    import torch

    return torch.enable_grad()


def run_check(exercise_id: str, obj: Any, *, allow_reference: bool = False, record: bool = True) -> CheckResult:
    """Grade ``obj`` for ``exercise_id`` and return the result, without printing anything."""
    start = time.perf_counter()
    try:
        exercise = get_exercise(exercise_id)
    except UnknownExercise as exc:
        return CheckResult(exercise_id, problem=str(exc))
    result = CheckResult(exercise.id)
    if obj is None:
        result.problem = "You handed in None. Pass the function or class you wrote, e.g. check(id, my_function)."
    elif not allow_reference and _looks_like_reference(obj, exercise):
        result.problem = (
            "This is Circuit Lab's reference solution, not your own code. Hand in the object you wrote in the notebook."
        )
    if result.problem:
        result.seconds = time.perf_counter() - start
        return result

    import pytest

    collector = _Collector()
    args = [
        str(exercise.grader_path),
        "-c", str(PYTEST_INI),
        "--rootdir", str(exercise.grader_path.parent),
        "--confcutdir", str(exercise.grader_path.parent),
        "-p", "no:cacheprovider",
        "-p", "no:warnings",
        # Plugins a grader does not need. unraisableexception and threadexception call gc.collect()
        # at teardown, which costs seconds once torch and a model are in memory.
        *[arg for plugin in ("unraisableexception", "threadexception", "doctest", "junitxml", "pastebin",
                             "stepwise", "faulthandler", "legacypath", "lfplugin") for arg in ("-p", f"no:{plugin}")],
        "--capture=sys",
        "-q",
    ]
    CONTEXT.push(submission=obj, exercise=exercise, timed_out=[])
    sink = io.StringIO()
    # Third-party pytest plugins (xdist, nbmake, timeout, ...) are not loaded for a grader run.
    autoload = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        # Gradients on whatever the notebook did with torch.set_grad_enabled: training exercises need them.
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), \
                _torch_grad_enabled():
            warnings.simplefilter("ignore")
            pytest.main(args, plugins=[collector])
    finally:
        CONTEXT.pop()
        if autoload is None:
            os.environ.pop("PYTEST_DISABLE_PLUGIN_AUTOLOAD", None)
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = autoload
    result.tests = collector.results()
    if collector.collection_errors or not result.tests:
        result.problem = (
            f"The grader for {exercise.id} could not run (this is a bug in Circuit Lab, not in your code). "
            + (collector.collection_errors[0].splitlines()[-1] if collector.collection_errors else "No tests were collected.")
        )
    result.seconds = time.perf_counter() - start
    if record:
        _record(result)
    return result


# --------------------------------------------------------------------------- session progress

SESSION_RESULTS: dict[str, CheckResult] = {}


def _record(result: CheckResult) -> None:
    SESSION_RESULTS[result.id] = result
    log = os.environ.get(PROGRESS_LOG_VARIABLE)
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"id": result.id, "status": result.status}) + "\n")


def check(exercise_id: str, obj: Any, *, record: bool = True) -> CheckResult:
    """Check your implementation of an exercise; prints a short report and returns the result.

    ``record=False`` keeps the result out of ``progress()`` (for demonstrations).
    """
    result = run_check(exercise_id, obj, record=record)
    print(result.report())
    return result


def grade(exercise_id: str, obj: Any) -> None:
    """For nbgrader test cells: print the report to stdout; raise AssertionError unless every check passes.

    Library warnings are silenced and nothing is written to stderr (nbgrader gives zero to a
    cell that writes to stderr).
    """
    with warnings.catch_warnings(), contextlib.redirect_stderr(sys.stdout):
        warnings.simplefilter("ignore")
        result = run_check(exercise_id, obj)
    print(result.report())
    if not result.passed:
        raise AssertionError(f"{exercise_id}: {result.status.replace('_', ' ')}")


_HINTS_SHOWN: dict[str, int] = {}


def hint(exercise_id: str, level: int | None = None) -> None:
    """Show the next hint for an exercise (or hint number ``level``). Hints get stronger each time."""
    try:
        exercise = get_exercise(exercise_id)
    except UnknownExercise as exc:
        print(str(exc))
        return
    hints = list(exercise.hints)
    if not hints:
        print(f"{exercise.id} has no hints; the solution notebook has the answer.")
        return
    number = level if level is not None else min(_HINTS_SHOWN.get(exercise.id, 0) + 1, len(hints))
    number = max(1, min(number, len(hints)))
    _HINTS_SHOWN[exercise.id] = number
    more = " Call hint() again for a stronger one." if number < len(hints) else " That was the last hint."
    print(f"💡 {exercise.id}, hint {number} of {len(hints)}: {hints[number - 1]}{more}")
