"""End to end: release chapter 0 and autograde one class, sealed, where students try to cheat.

One class is graded once (module fixture, 2 workers) and every test reads its results:

- honest students, with their own (alternative) implementations: full marks, whatever their
  names (accent-only different, non-Latin), wherever their answers sit, with or without
  nbgrader metadata;
- one student per way of forging a grade: each scores 0 on every exercise the probe grades sealed
  (chapter 0's functions of tensors among them);
- copies of the shipped solution: full marks, flagged;
- faults (a kernel that dies, a loop that ignores the interrupt, a call that never returns):
  the exercise at fault is marked, every other exercise keeps its score, the executed notebook
  is kept.
"""
from __future__ import annotations

import copy
import csv
import json
import os
import re
import zipfile
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from circuitlab.course import sandbox
from circuitlab.course.autograde import CRASHED, GRADED, TIMED_OUT, grade_class
from circuitlab.course.release import SOLUTION_MARKERS, release, release_leaks
from circuitlab.grading.registry import exercises
from exercise_sources import ROOT, mutants_and_alternatives, mutants_path

pytestmark = pytest.mark.slow

CHAPTER = "00_tools"
# Seconds per answer cell and per exercise: each fault below costs at most one of these.
TIME_LIMIT = 25
EXERCISES = [e for e in exercises().values() if e.chapter == 0]
FIRST = EXERCISES[0]  # ch0.split_heads
HONEST = ["Zoë", "Zoe", "王小明", "learner-notebook", "moved-answer"]


# --------------------------------------------------------------------------- building submissions


def grade_id_of(cell: dict[str, Any]) -> str | None:
    return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")


def cell_with(notebook: dict[str, Any], grade_id: str) -> dict[str, Any]:
    return next(cell for cell in notebook["cells"] if grade_id_of(cell) == grade_id)


def answered(release_nb: dict[str, Any], answers: dict[str, str]) -> dict[str, Any]:
    """The release with the answer cell of each exercise in ``answers`` replaced."""
    notebook = copy.deepcopy(release_nb)
    for exercise_id, code in answers.items():
        cell_with(notebook, exercise_id.replace(".", "-"))["source"] = code
    return notebook


def handed_in(exercise) -> str:
    return exercise.name  # chapter 0 hands in the function of the same name


def alternative_answer(exercise) -> str:
    """A valid implementation that is not the published one, bound to the handed-in name."""
    _, alternatives = mutants_and_alternatives(exercise)
    assert alternatives, f"{exercise.id} has no alternative"
    return mutants_path(exercise).read_text(encoding="utf-8") + f"\n\n{handed_in(exercise)} = {alternatives[0][0]}\n"


def mutant_answer(exercise) -> str:
    mutants, _ = mutants_and_alternatives(exercise)
    return mutants_path(exercise).read_text(encoding="utf-8") + f"\n\n{handed_in(exercise)} = {mutants[0][0]}\n"


def honest_answers() -> dict[str, str]:
    return {e.id: alternative_answer(e) for e in EXERCISES}


def published_answers(source_nb: dict[str, Any]) -> dict[str, str]:
    found = {}
    for exercise in EXERCISES:
        text = "".join(cell_with(source_nb, exercise.grade_id)["source"])
        found[exercise.id] = "\n".join(l for l in text.splitlines() if l.strip() not in SOLUTION_MARKERS)
    return found


def learner_notebook(release_nb: dict[str, Any]) -> dict[str, Any]:
    """Like the Colab notebook from chapters/: no nbgrader metadata, check() cells, answers in place."""
    notebook = answered(release_nb, honest_answers())
    for cell in notebook["cells"]:
        grade_id = grade_id_of(cell) or ""
        if grade_id.endswith("-test"):
            name = grade_id.removesuffix("-test").replace("-", ".", 1)
            cell["source"] = f'check("{name}", {name.split(".")[1]})'
        cell["metadata"] = {}
    return notebook


def moved_answer(release_nb: dict[str, Any]) -> dict[str, Any]:
    """Each answer written in a new cell above its untouched stub."""
    notebook = copy.deepcopy(release_nb)
    for exercise in EXERCISES:
        stub = cell_with(notebook, exercise.grade_id)
        index = notebook["cells"].index(stub)
        notebook["cells"].insert(index, {"cell_type": "code", "metadata": {}, "outputs": [], "execution_count": None,
                                         "source": alternative_answer(exercise)})
    return notebook


def cheat(release_nb: dict[str, Any], code: str, answers: dict[str, str] | None = None) -> dict[str, Any]:
    """Stubs everywhere, with ``code`` at the top of the first answer cell."""
    stub = "".join(cell_with(release_nb, FIRST.grade_id)["source"])
    return answered(release_nb, {**(answers or {}), FIRST.id: code + "\n\n" + (answers or {}).get(FIRST.id, stub)})


CHEATS = {
    "patch-grading": (
        "import circuitlab, circuitlab.grading.engine as engine\n"
        "engine.run_check = lambda *a, **k: None\ncircuitlab.grade = circuitlab.check = lambda *a, **k: None\n"),
    "patch-pytest": "import pytest\npytest.main = lambda *a, **k: 0\npytest.fail = lambda *a, **k: None\n",
    "patch-torch": (
        "import torch\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
        "torch.testing.assert_close = lambda *a, **k: None\n"
        "def split_heads(x, n_heads):\n    return torch.zeros(x.shape[0], x.shape[1], n_heads, x.shape[2] // n_heads)\n"),
    "patch-ipython": (
        "ip = get_ipython()\nip.user_expressions = lambda expressions: {}\n"
        "ip.showtraceback = lambda *a, **k: None\n"),
    "plugin-variables": (
        "import os\nos.environ['PYTEST_PLUGINS'] = 'evil_plugin'\nos.environ['PYTEST_ADDOPTS'] = '-p evil_plugin'\n"
        "os.environ['PYTHONSTARTUP'] = 'evil.py'\n"
        "open('evil_plugin.py', 'w').write('def pytest_runtest_call(item):\\n    return True\\n')\n"),
    "input-transformers": (
        "ip = get_ipython()\n"
        "ip.input_transformers_post.append(lambda lines: ['pass\\n'] if any('grade(' in l for l in lines) else lines)\n"
        "import ast\nclass Blank(ast.NodeTransformer):\n"
        "    def visit_Call(self, node):\n        return ast.Constant(None) if getattr(node.func, 'id', '') == 'grade' else node\n"
        "ip.ast_transformers.append(Blank())\n"),
    "reference-wrapper": "\n".join(
        [f"from circuitlab.ch0.reference import {e.name} as _{e.name}" for e in EXERCISES]
        + ["def split_heads(x, n_heads):\n    return _split_heads(x, n_heads)\n"]),
    "reference-from-disk": (
        "import os, circuitlab\n"
        "_path = os.path.join(os.path.dirname(os.path.realpath(circuitlab.__file__)), 'ch0', 'reference.py')\n"
        "exec(open(_path).read())\n"),
    "tensor-subclass": (
        "import torch\nclass AlwaysEqual(torch.Tensor):\n"
        "    @classmethod\n    def __torch_function__(cls, func, types, args=(), kwargs=None):\n"
        "        if func in (torch.allclose, torch.equal, torch.Tensor.__eq__): return True\n"
        "        return super().__torch_function__(func, types, args, kwargs or {})\n"
        "def split_heads(x, n_heads):\n"
        "    return torch.zeros(x.shape[0], x.shape[1], n_heads, x.shape[2] // n_heads).as_subclass(AlwaysEqual)\n"),
    "patch-reference": (
        "import sys, types\nfake = types.ModuleType('circuitlab.ch0.reference')\n"
        "fake.split_heads = lambda x, n_heads: x.reshape(x.shape[0], x.shape[1], n_heads, -1) * 0\n"
        "sys.modules['circuitlab.ch0.reference'] = fake\n"
        "def split_heads(x, n_heads):\n    return x.reshape(x.shape[0], x.shape[1], n_heads, -1) * 0\n"),
}
# Only where the sandbox stands between the kernel and the installed files: without it, this
# student would really rewrite the graders (and autograde would stop the run, as documented).
# Forgeries aimed at the checks that back-propagate (exercise -> answer): right values, no real gradient.
GRADIENT_CHEATS = {
    # A Parameter says requires_grad=True, but nothing connects it to the input.
    "parameter-output": ("ch0.log_softmax", "import torch\n\ndef log_softmax(x, dim=-1):\n"
                                            "    return torch.nn.Parameter(torch.log_softmax(x.detach(), dim=dim))\n"),
    # Patching autograd in the kernel changes nothing here: the gradient is computed by a backward
    # request the grader makes, and compared with the grader's own.
    "patch-autograd": ("ch0.logsumexp", "import torch\ntorch.autograd.grad = lambda *a, **k: tuple(torch.zeros(1) for _ in a[1])\n"
                                        "def logsumexp(x, dim):\n    return torch.logsumexp(x.detach(), dim)\n"),
}

ESCAPE = {
    "escape": (
        "import os, socket\n"
        "import circuitlab, glob\n"
        "for path in glob.glob(os.path.dirname(os.path.realpath(circuitlab.__file__)) + '/ch0/graders/*.py'):\n"
        "    try:\n        open(path, 'w').write('def test_ok():\\n    pass\\n')\n    except OSError:\n        pass\n"
        "try:\n    socket.create_connection(('127.0.0.1', 22), timeout=1)\nexcept OSError:\n    pass\n"),
}


def skip_execution(release_nb: dict[str, Any]) -> dict[str, Any]:
    """Every cell tagged so that nbclient skips it: no test runs, nothing raises."""
    notebook = copy.deepcopy(release_nb)
    for cell in notebook["cells"]:
        cell.setdefault("metadata", {}).setdefault("tags", []).append("skip-execution")
    notebook["metadata"]["execution"] = {"allow_errors": True}
    return notebook


def fault_submissions(release_nb: dict[str, Any]) -> dict[str, tuple[dict[str, Any], str, str]]:
    """Student -> (notebook, exercise at fault, expected status)."""
    honest = honest_answers()
    second, third, fourth = EXERCISES[1], EXERCISES[2], EXERCISES[3]
    return {
        "fault-crash-cell": (answered(release_nb, {**honest, second.id: "import os\nos._exit(1)\n"}),
                             second.id, CRASHED),
        "fault-crash-call": (answered(release_nb, {**honest, third.id:
                                                   f"def {third.name}(*args, **kwargs):\n    import os\n    os._exit(1)\n"}),
                             third.id, CRASHED),
        "fault-deaf-loop": (answered(release_nb, {**honest, fourth.id:
                                                  "import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\n"
                                                  "while True:\n    pass\n"}),
                            fourth.id, TIMED_OUT),
        "fault-slow-call": (answered(release_nb, {**honest, FIRST.id:
                                                  "def split_heads(x, n_heads):\n    while True:\n        pass\n"}),
                            FIRST.id, TIMED_OUT),
    }


def write(notebook: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False), encoding="utf-8")


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    work = tmp_path_factory.mktemp("sealed-class")
    course = work / "course"
    release(course, chapters=[CHAPTER], log=lambda line: None)
    release_nb = json.loads((course / "release" / CHAPTER / f"{CHAPTER}.ipynb").read_text())
    source_nb = json.loads((course / "source" / CHAPTER / f"{CHAPTER}.ipynb").read_text())

    subs = work / "submissions"
    students: dict[str, dict[str, Any]] = {}
    for name in ("Zoë", "Zoe", "王小明"):
        students[name] = answered(release_nb, honest_answers())
    students["learner-notebook"] = learner_notebook(release_nb)
    students["moved-answer"] = moved_answer(release_nb)
    students["copy"] = answered(release_nb, published_answers(source_nb))
    students["untouched"] = copy.deepcopy(release_nb)
    students["mutant"] = answered(release_nb, {**honest_answers(), FIRST.id: mutant_answer(FIRST)})
    for name, code in {**CHEATS, **(ESCAPE if sandbox.namespaces_available() is None else {})}.items():
        students[f"cheat-{name}"] = cheat(release_nb, code)
    students["cheat-skip-execution"] = skip_execution(release_nb)
    for name, (exercise, code) in GRADIENT_CHEATS.items():
        students[f"cheat-{name}"] = answered(release_nb, {exercise: code})
    faults = fault_submissions(release_nb)
    for name, (notebook, _, _) in faults.items():
        students[name] = notebook
    for name, notebook in students.items():
        if name == "learner-notebook":
            write(notebook, subs / name / "downloads" / f"{CHAPTER} (1).ipynb")
        elif name == "copy":  # a zip, as an LMS exports one student
            archive = subs / f"{name}.zip"
            archive.parent.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(archive, "w") as bundle:
                bundle.writestr(f"{name}/{CHAPTER}.ipynb", json.dumps(notebook))
        else:
            write(notebook, subs / name / f"{CHAPTER}.ipynb")

    # An instructor's shell that would load a pytest plugin into the grader: removed, and reported.
    saved = os.environ.get("PYTEST_ADDOPTS")
    os.environ["PYTEST_ADDOPTS"] = "-p circuitlab_no_such_plugin"
    try:
        result = grade_class(subs, course, work / "out", workers=2, cell_timeout=TIME_LIMIT, log=lambda line: None,
                             partial_credit=False)
    finally:
        if saved is None:
            os.environ.pop("PYTEST_ADDOPTS", None)
        else:
            os.environ["PYTEST_ADDOPTS"] = saved
    by_origin = {}
    with open(work / "out" / "id_map.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            by_origin[row["original"]] = row["id"]
    rows: dict[str, dict[str, dict[str, str]]] = {}
    for row in result.rows:
        rows.setdefault(row["student"], {})[row["exercise"]] = row
    named = {name: rows[by_origin.get(name, by_origin.get(f"{name}.zip", name))] for name in students}
    return {"result": result, "rows": named, "release": release_nb, "source": source_nb, "students": students,
            "out": work / "out", "faults": faults, "ids": by_origin}


def full_marks(row: dict[str, str]) -> bool:
    return row["status"] == GRADED and float(row["score"]) == float(row["max_score"])


def zero(row: dict[str, str]) -> bool:
    return row["score"] != "" and float(row["score"]) == 0.0


# --------------------------------------------------------------------------- honest work


def test_release_strips_solutions(graded):
    assert release_leaks(graded["release"], graded["source"]) == []


@pytest.mark.parametrize("student", HONEST)
def test_honest_students_get_full_marks(graded, student):
    rows = graded["rows"][student]
    assert len(rows) == len(EXERCISES)
    assert all(full_marks(row) for row in rows.values()), rows
    assert not any(row["flag"] for row in rows.values())


def test_names_differing_only_in_accents_or_in_another_script_are_kept_apart(graded):
    ids = graded["ids"]
    assert ids["Zoe"] == "Zoe"
    assert ids["Zoë"] != ids["Zoe"] and ids["Zoë"].startswith("Zoe-")
    assert ids["王小明"] and ids["王小明"] != "student"
    assert len(set(ids.values())) == len(ids) == len(graded["students"])


def test_a_wrong_answer_loses_only_its_points(graded):
    rows = graded["rows"]["mutant"]
    assert zero(rows[FIRST.id]) and rows[FIRST.id]["status"] == GRADED
    assert all(full_marks(row) for name, row in rows.items() if name != FIRST.id)


def test_untouched_release_gets_zero_everywhere(graded):
    assert all(zero(row) and row["status"] == GRADED for row in graded["rows"]["untouched"].values())


def test_copies_of_the_solution_are_flagged_not_zeroed(graded):
    rows = graded["rows"]["copy"]
    assert all(full_marks(row) for row in rows.values()), rows
    assert all(row["flag"].startswith("copy") for row in rows.values())
    assert "flagged" in (graded["out"] / "report.txt").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- forgery


# Functions of tensors whose checks need no gradients: the probe must find them sealed.
# Every exercise of chapter 0 is graded sealed, the ones whose checks back-propagate included.
SEALED_EXERCISES = {e.id for e in EXERCISES}


def sealed_exercises(graded) -> set[str]:
    return {name for name, s in graded["result"].sealing[CHAPTER].items() if s.mode == "sealed"}


def test_the_probe_grades_every_exercise_of_chapter_0_sealed(graded):
    sealed = sealed_exercises(graded)
    assert SEALED_EXERCISES <= sealed, graded["result"].sealing[CHAPTER]
    for rows in graded["rows"].values():
        for name, row in rows.items():
            if row["status"] == GRADED:
                assert ("graded in the student's kernel (not sealed)" in row["detail"]) == (name not in sealed), row


@pytest.mark.parametrize("student", [f"cheat-{name}" for name in (*CHEATS, *ESCAPE, *GRADIENT_CHEATS)]
                         + ["cheat-skip-execution"])
def test_every_forgery_scores_zero(graded, student):
    if student not in graded["rows"]:
        pytest.skip("no sandbox on this machine: the escape attempt is not handed in")
    rows = graded["rows"][student]
    assert len(rows) == len(EXERCISES)
    sealed = {name: row for name, row in rows.items() if name in sealed_exercises(graded)}
    assert SEALED_EXERCISES <= set(sealed)
    assert all(zero(row) for row in sealed.values()), {k: (r["score"], r["status"], r["detail"]) for k, r in sealed.items()}


def test_execution_tags_and_plugin_variables_are_ignored_and_reported(graded):
    report = (graded["out"] / "report.txt").read_text(encoding="utf-8")
    assert "skip-execution" in report and "'execution'" in report
    assert "PYTEST_ADDOPTS" in graded["result"].removed_variables
    assert "PYTEST_ADDOPTS" in report


def test_no_student_changed_the_installed_graders(graded):
    # Compared by content, not bytes: the graders may be edited in the checkout while the class runs.
    after = [p.read_text(encoding="utf-8") for p in (ROOT / "utils" / "circuitlab" / "ch0" / "graders").glob("*.py")]
    assert after and not any("def test_ok():" in text for text in after)


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize("student", ["fault-crash-cell", "fault-crash-call", "fault-deaf-loop", "fault-slow-call"])
def test_a_fault_costs_only_its_own_exercise(graded, student):
    _, at_fault, status = graded["faults"][student]
    rows = graded["rows"][student]
    assert rows[at_fault]["status"] == status, rows[at_fault]
    if status == CRASHED:
        assert rows[at_fault]["score"] == ""  # to grade by hand, not a silent zero
    else:
        assert zero(rows[at_fault])
    assert all(full_marks(row) for name, row in rows.items() if name != at_fault), rows
    kept = graded["out"] / "autograded" / graded["ids"][student] / CHAPTER / f"{CHAPTER}.ipynb"
    assert kept.exists()  # the executed notebook, for grading by hand


def test_nobody_is_lost_and_nothing_is_doubled(graded):
    result = graded["result"]
    assert len(graded["rows"]) == len(graded["students"])
    keys = [(r["student"], r["assignment"], r["exercise"]) for r in result.rows]
    assert len(keys) == len(set(keys)) == len(graded["students"]) * len(EXERCISES)
    with open(graded["out"] / "grades.csv", newline="", encoding="utf-8") as handle:
        written = list(csv.DictReader(handle))
    assert written == result.rows
    with open(graded["out"] / "totals.csv", newline="", encoding="utf-8") as handle:
        totals = list(csv.DictReader(handle))
    assert len(totals) == 2 * len(graded["students"])  # the chapter and overall, for each student
    honest = next(t for t in totals if t["student"] == graded["ids"]["Zoe"] and t["assignment"] == "overall")
    assert honest["status"] == "complete" and honest["score"] == honest["max_score"]
    crashed = next(t for t in totals if t["student"] == "fault-crash-cell" and t["assignment"] == CHAPTER)
    assert crashed["status"] == "needs a look"


# --------------------------------------------------------------------------- feedback


def _grader_lines() -> set[str]:
    """Distinctive lines of chapter 0's pytest graders: none may reach a student."""
    lines = set()
    for path in (ROOT / "utils" / "circuitlab" / "ch0" / "graders").glob("test_*.py"):
        for line in path.read_text().splitlines():
            if line.strip().startswith("def test_") or line.strip().startswith("expect_close("):
                lines.add(line.strip())
    return lines


def visible_text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", html))


def test_feedback_shows_reports_but_no_grader_code_nor_instructor_paths(graded):
    secret = _grader_lines()
    for student in HONEST + ["fault-crash-call", "mutant"]:
        sid = graded["ids"].get(student, student)
        feedback = graded["out"] / "feedback" / sid / CHAPTER / f"{CHAPTER}.html"
        text = visible_text(feedback.read_text(encoding="utf-8"))
        assert 'grade("ch0.' in text and "✅" in text, student
        assert not [line for line in secret if line in text], student
        for path in (str(ROOT), str(graded["out"]), str(Path.home()), "site-packages"):
            assert path not in text, (student, path)
