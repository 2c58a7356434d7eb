"""The instructor tools' parts that need no kernel: test-cell traps, submission intake, restoring
graded cells, hidden-test stripping, dealing students to workers and building the grades table."""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import nbformat
import pytest

from circuitlab.authoring.build import build_chapter, masters
from circuitlab.course.autograde import (
    CRASHED, GRADED, NOT_SUBMITTED, Assignment, GradedExercise, Outcome, deal, exercise_name, feedback_leaks,
    merge, strip_hidden_tests, table,
)
from circuitlab.course.intake import IntakeError, StudentFiles, collect, match_assignment, student_id
from circuitlab.course.release import lint_nbgrader_source, grade_cell_problem
from circuitlab.course.submission import grade_id_of, restore_structure
from circuitlab.grading.cli import main
from exercise_sources import ROOT

CHAPTER = "00_tools"
ASSIGNMENTS = [CHAPTER, "01_transformer"]


def nbgrader_source(slug: str = CHAPTER):
    for master, chapter in masters(ROOT):
        if chapter.slug == slug:
            return build_chapter(master, chapter)["nbgrader"]
    raise LookupError(slug)


# --------------------------------------------------------------------------- test cells


@pytest.mark.parametrize("source", [
    'f(1) == 2',
    'from circuitlab import grade\ngrade("ch0.x", f)\nresult == True',
    '0.5',
])
def test_test_cell_ending_in_a_bare_value_is_refused(source):
    assert "bare expression" in grade_cell_problem(source)


def test_test_cell_without_grade_call_is_refused():
    assert "does not call grade" in grade_cell_problem("assert f(1) == 2")
    assert "empty" in grade_cell_problem("# nothing")
    assert "not valid Python" in grade_cell_problem("grade(")


def test_generated_test_cells_are_accepted():
    assert grade_cell_problem('from circuitlab import grade\n\ngrade("ch0.split_heads", split_heads)') is None
    assert lint_nbgrader_source(json.loads(nbformat.writes(nbgrader_source())), CHAPTER) == []


# --------------------------------------------------------------------------- intake


def notebook_json(text: str = "x = 1") -> str:
    return nbformat.writes(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(text)]))


def test_folders_and_zips_of_students(tmp_path):
    subs = tmp_path / "subs"
    (subs / "alice" / CHAPTER).mkdir(parents=True)
    (subs / "alice" / CHAPTER / f"{CHAPTER}.ipynb").write_text(notebook_json())
    (subs / "alice" / ".ipynb_checkpoints").mkdir()
    (subs / "alice" / ".ipynb_checkpoints" / f"{CHAPTER}-checkpoint.ipynb").write_text(notebook_json())
    with zipfile.ZipFile(subs / "Bob Smith.zip", "w") as bundle:
        bundle.writestr(f"work/{CHAPTER} (2).ipynb", notebook_json())
        bundle.writestr("../escape.ipynb", notebook_json())
        bundle.writestr("__MACOSX/._x.ipynb", "junk")
    (subs / "loose.ipynb").write_text(notebook_json())
    intake = collect(subs, tmp_path / "scratch", ASSIGNMENTS)
    bob = student_id("Bob Smith")
    assert sorted(intake.students) == sorted([bob, "alice", "loose"])
    assert intake.students["alice"].notebooks[CHAPTER].name == f"{CHAPTER}.ipynb"
    assert intake.students[bob].notebooks[CHAPTER].name == f"{CHAPTER} (2).ipynb"
    assert intake.students["loose"].layout == "loose"
    assert "escape" in "\n".join(intake.warnings)
    assert not (tmp_path / "scratch" / "escape.ipynb").exists()


def test_a_zip_of_the_whole_class(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr(f"class/carol/{CHAPTER}.ipynb", notebook_json())
        bundle.writestr(f"class/dan/01_transformer.ipynb", notebook_json())
    intake = collect(archive, tmp_path / "scratch", ASSIGNMENTS)
    assert sorted(intake.students) == ["carol", "dan"]
    assert list(intake.students["dan"].notebooks) == ["01_transformer"]


def test_two_notebooks_for_one_assignment_are_reported_not_guessed(tmp_path):
    folder = tmp_path / "subs" / "erin"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    (folder / "a" / f"{CHAPTER}.ipynb").write_text(notebook_json())
    (folder / "b" / f"{CHAPTER}.ipynb").write_text(notebook_json())
    files = collect(tmp_path / "subs", tmp_path / "scratch", ASSIGNMENTS).students["erin"]
    assert CHAPTER not in files.notebooks
    assert "several notebooks" in files.problems[CHAPTER]


def test_bad_submissions_folder_is_a_clear_error(tmp_path):
    with pytest.raises(IntakeError, match="No such folder"):
        collect(tmp_path / "missing", tmp_path / "scratch", ASSIGNMENTS)
    (tmp_path / "empty").mkdir()
    with pytest.raises(IntakeError, match="No student submissions"):
        collect(tmp_path / "empty", tmp_path / "scratch", ASSIGNMENTS)
    (tmp_path / "broken.zip").write_text("not a zip")
    with pytest.raises(IntakeError, match="not a readable zip"):
        collect(tmp_path / "broken.zip", tmp_path / "scratch", ASSIGNMENTS)


def test_names_and_matching():
    assert student_id("ann_oneil-42") == "ann_oneil-42"
    assert student_id("Ann O'Neil (42)").startswith("Ann_O_Neil_42-")
    assert match_assignment("00_tools.ipynb", ASSIGNMENTS) == CHAPTER
    assert match_assignment("ann_123_01_transformer-3.ipynb", ASSIGNMENTS) == "01_transformer"
    assert match_assignment("notes.ipynb", ASSIGNMENTS) is None


# --------------------------------------------------------------------------- restoring graded cells


def graded_ids(notebook) -> list[str]:
    return [grade_id_of(cell) for cell in notebook.cells if grade_id_of(cell)]


def test_deleted_answer_and_test_cells_are_put_back_in_place():
    release = nbgrader_source()
    submitted = nbformat.reads(nbformat.writes(release), as_version=4)
    submitted.cells = [c for c in submitted.cells if grade_id_of(c) not in ("ch0-split_heads", "ch0-split_heads-test")]
    prepared = restore_structure(submitted, release)
    assert graded_ids(prepared.notebook) == graded_ids(release)
    assert prepared.restored == ["ch0-split_heads", "ch0-split_heads-test"]
    assert len({cell.get("id") for cell in prepared.notebook.cells}) == len(prepared.notebook.cells)


def test_colab_notebook_without_metadata_is_matched_by_content():
    release = nbgrader_source()
    learner = nbformat.read(str(ROOT / "chapters" / f"{CHAPTER}.ipynb"), as_version=4)
    prepared = restore_structure(learner, release)
    assert graded_ids(prepared.notebook) == graded_ids(release)
    assert not prepared.restored
    check_cell = next(c for c in prepared.notebook.cells if grade_id_of(c) == "ch0-attention_scores-test")
    assert "buggy" not in check_cell.source  # the demonstration cell further down is not taken for the test


# --------------------------------------------------------------------------- feedback


def test_hidden_tests_are_stripped():
    source = "grade('ch0.x', f)\n### BEGIN HIDDEN TESTS\nassert secret(f)\n### END HIDDEN TESTS\nprint('done')"
    assert strip_hidden_tests(source) == "grade('ch0.x', f)\nprint('done')"
    assert feedback_leaks("<span>### BEGIN HIDDEN TESTS</span>")
    assert not feedback_leaks("<p>all good</p>")


# --------------------------------------------------------------------------- workers and the table


def test_dealing_puts_every_student_in_exactly_one_share():
    students = [StudentFiles(f"s{i:02d}", f"s{i:02d}") for i in range(31)]
    shares = deal(students, 4)
    dealt = [files.student for share in shares for files in share]
    assert sorted(dealt) == sorted(files.student for files in students)
    assert max(len(s) for s in shares) - min(len(s) for s in shares) <= 1
    assert len(deal(students[:1], 4)) == 1


def test_merge_refuses_a_submission_graded_twice():
    one = Outcome("ann", CHAPTER, GRADED)
    with pytest.raises(RuntimeError, match="two workers"):
        merge([[one], [Outcome("ann", CHAPTER, GRADED)]])
    assert list(merge([[one], [Outcome("bob", CHAPTER, GRADED)]])) == [("ann", CHAPTER), ("bob", CHAPTER)]


def test_table_has_one_row_per_student_and_exercise():
    exercises = (GradedExercise("ch0.a", "ch0-a-test", 1.0), GradedExercise("ch0.b", "ch0-b-test", 2.0))
    assignments = {CHAPTER: Assignment(CHAPTER, f"{CHAPTER}.ipynb", Path("unused"), exercises)}
    students = {name: StudentFiles(name, name) for name in ("ann", "bob", "cy")}
    outcomes = {
        ("ann", CHAPTER): Outcome("ann", CHAPTER, GRADED, scores={"ch0-a-test": 1.0, "ch0-b-test": 0.0}),
        ("bob", CHAPTER): Outcome("bob", CHAPTER, CRASHED, "the kernel died"),
    }
    rows = table(students, assignments, outcomes)
    assert [(r["student"], r["exercise"], r["score"], r["status"]) for r in rows] == [
        ("ann", "ch0.a", "1", GRADED), ("ann", "ch0.b", "0", GRADED),
        ("bob", "ch0.a", "", CRASHED), ("bob", "ch0.b", "", CRASHED),
        ("cy", "ch0.a", "0", NOT_SUBMITTED), ("cy", "ch0.b", "0", NOT_SUBMITTED),
    ]


def test_exercise_names_from_grade_ids():
    assert exercise_name("ch0-split_heads-test") == "ch0.split_heads"
    assert exercise_name("homework-q1") == "homework-q1"


# --------------------------------------------------------------------------- command line


def test_autograde_without_a_course_exits_2_with_a_message(tmp_path, capsys):
    (tmp_path / "subs" / "ann").mkdir(parents=True)
    code = main(["autograde", str(tmp_path / "subs"), "--course", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o")])
    assert code == 2
    assert "circuitlab release" in capsys.readouterr().err


def test_release_refuses_a_folder_that_is_not_a_course(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("mine")
    assert main(["release", str(tmp_path)]) == 2
    assert "not an nbgrader course" in capsys.readouterr().err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_release_of_an_unknown_chapter_names_the_chapters(tmp_path, capsys):
    assert main(["release", str(tmp_path / "c"), "--chapter", "99_nothing"]) == 2
    assert "00_tools" in capsys.readouterr().err


def test_repository_course_config_has_the_release_settings():
    from circuitlab.course.settings import nbgrader_config_text

    def settings_lines(text: str) -> list[str]:
        return [line for line in text.splitlines() if line.startswith("c.")]

    in_repo = (ROOT / "course" / "nbgrader_config.py").read_text()
    assert settings_lines(in_repo) == settings_lines(nbgrader_config_text())
    assert "c.OverwriteCells.add_missing_cells = True" in in_repo


def test_release_leak_check_finds_solution_code_and_hidden_tests():
    from circuitlab.course.release import release_leaks

    def notebook(*sources: str) -> dict:
        return {"cells": [{"cell_type": "code", "metadata": {}, "source": s, "outputs": []} for s in sources]}

    source = notebook(
        "def f(x):\n    scores = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)\n    ### BEGIN SOLUTION\n"
        "    scores = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)\n    return rearrange(x, 'a b -> b a').contiguous()\n"
        "    ### END SOLUTION",
    )
    stub = "def f(x):\n    scores = torch.zeros(model.cfg.n_layers, model.cfg.n_heads)\n    raise NotImplementedError()"
    assert release_leaks(notebook(stub), source) == []
    leaked = release_leaks(notebook(stub + "\n    return rearrange(x, 'a b -> b a').contiguous()"), source)
    assert len(leaked) == 1 and "solution code" in leaked[0]
    hidden = release_leaks(notebook("grade('ch0.f', f)\n### BEGIN HIDDEN TESTS\n### END HIDDEN TESTS"), source)
    assert len(hidden) == 2


def test_a_stopped_grading_process_takes_its_children_with_it():
    import subprocess
    import sys
    import time

    import psutil

    from circuitlab.course.runner import _stop_tree

    parent = subprocess.Popen([sys.executable, "-c",
                               "import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', "
                               "'import time; time.sleep(120)']); time.sleep(120)"])
    try:
        family = []
        for _ in range(100):  # wait until the child exists
            family = psutil.Process(parent.pid).children(recursive=True)
            if family:
                break
            time.sleep(0.1)
        assert family, "the child process did not start"
        _stop_tree(parent)
        assert parent.poll() is not None
        assert not any(child.is_running() and child.status() != psutil.STATUS_ZOMBIE for child in family)
    finally:
        if parent.poll() is None:
            parent.kill()


# --------------------------------------------------------------------------- nobody lost


def test_ids_are_stable_non_empty_and_never_merged():
    names = ["José", "Jose", "Jose\u0301", "王小明", "王小朋", "Zoë Müller", "Zoe Muller", " ", "..."]
    ids = [student_id(name) for name in names]
    assert all(ids)
    assert ids[0] == student_id("Jose\u0301")  # the same name, composed or decomposed
    assert len({ids[0], ids[1], ids[3], ids[4], ids[5], ids[6]}) == 6
    assert ids == [student_id(name) for name in names]  # stable


def test_lms_layouts_wrappers_and_loose_files(tmp_path):
    archive = tmp_path / "class.zip"
    with zipfile.ZipFile(archive, "w") as bundle:
        # A wrapping folder that also holds a loose notebook: the students are still found apart.
        bundle.writestr(f"week1/carol/{CHAPTER}.ipynb", notebook_json())
        bundle.writestr(f"week1/dan/{CHAPTER}.ipynb", notebook_json())
        bundle.writestr(f"week1/erin_{CHAPTER}.ipynb", notebook_json())
        bundle.writestr(f"week1/{CHAPTER}.ipynb", notebook_json())  # no name: needs a look
        bundle.writestr(f"week1/smithjohn_12345_67890_{CHAPTER}.ipynb", notebook_json())
        bundle.writestr(f"week1/smithjohn_LATE_12345_67891_01_transformer.ipynb", notebook_json())
        bundle.writestr(f"week1/Zoë Müller_321_assignsubmission_file_/{CHAPTER}.ipynb", notebook_json())
    intake = collect(archive, tmp_path / "scratch", ASSIGNMENTS)
    by_layout = {files.layout: files for files in intake.students.values()}
    assert {"carol", "dan", "erin"} <= set(intake.students)
    canvas, moodle = by_layout["canvas"], by_layout["moodle"]
    assert canvas.lms_id == "12345" and sorted(canvas.notebooks) == sorted(ASSIGNMENTS)
    assert moodle.lms_id == "321" and moodle.name == "Zoë Müller" and list(moodle.notebooks) == [CHAPTER]
    assert any("no student name" in item for item in intake.needs_a_look)


def test_the_same_student_twice_is_graded_apart_and_listed(tmp_path):
    subs = tmp_path / "subs"
    (subs / "alice").mkdir(parents=True)
    (subs / "alice" / f"{CHAPTER}.ipynb").write_text(notebook_json())
    with zipfile.ZipFile(subs / "alice.zip", "w") as bundle:
        bundle.writestr(f"{CHAPTER}.ipynb", notebook_json())
    intake = collect(subs, tmp_path / "scratch", ASSIGNMENTS)
    assert len(intake.students) == 2
    assert any("may be the same student" in item for item in intake.needs_a_look)


# --------------------------------------------------------------------------- answers and copies


def test_answers_are_found_wherever_they_sit_and_copies_flagged():
    from circuitlab.course.plan import build_plan, code_shape, reference_use

    release = json.loads(nbformat.writes(nbgrader_source()))
    for cell in release["cells"]:
        cell["source"] = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
    stub = next(c for c in release["cells"] if grade_id_of(nbformat.from_dict(c)) == "ch0-split_heads")
    answer = "def split_heads(x, n_heads):\n    return x.view(*x.shape[:2], n_heads, -1)\n"
    submitted = json.loads(json.dumps(release))
    index = submitted["cells"].index(next(c for c in submitted["cells"] if c["source"] == stub["source"]))
    submitted["cells"].insert(index, {"cell_type": "code", "metadata": {"tags": ["skip-execution"]},
                                      "source": answer, "outputs": []})
    shapes = {"ch0.split_heads": {"the published solution": code_shape(
        "def split_heads(a: int, b) -> int:\n    '''doc'''\n    return a.view(*a.shape[:2], b, -1)  # same\n")}}
    plan = build_plan(release, submitted, shapes)
    ran = [s for s in plan.steps if s.get("owner") == "ch0.split_heads" and s.get("label", "").startswith("the answer")]
    assert ran[0]["source"] == answer
    assert "ch0.split_heads" in plan.flags
    assert any("skip-execution" in item for item in plan.stripped)
    assert not any(s["kind"] == "cell" and 'grade("' in s["source"] for s in plan.steps)  # tests never run there
    assert reference_use("from circuitlab.ch0.reference import split_heads")
    assert reference_use("import einops\nx = 1") is None


# --------------------------------------------------------------------------- gradebooks


def test_totals_and_lms_files_from_a_roster(tmp_path):
    import csv

    from circuitlab.course import gradebook

    exercises = (GradedExercise("ch0.a", "ch0-a-test", 1.0), GradedExercise("ch0.b", "ch0-b-test", 2.0))
    assignments = {CHAPTER: Assignment(CHAPTER, f"{CHAPTER}.ipynb", Path("unused"), exercises)}
    students = {"smithjohn_12345": StudentFiles("smithjohn_12345", "x", "canvas", "12345", "smithjohn"),
                "ann": StudentFiles("ann", "ann")}
    outcomes = {("smithjohn_12345", CHAPTER): Outcome("smithjohn_12345", CHAPTER, GRADED,
                                                       scores={"ch0-a-test": 1.0, "ch0-b-test": 2.0}),
                ("ann", CHAPTER): Outcome("ann", CHAPTER, GRADED, scores={"ch0-a-test": 1.0, "ch0-b-test": None},
                                          exercise_status={"ch0-b-test": CRASHED})}
    rows = table(students, assignments, outcomes)
    totals = gradebook.totals(rows, students, assignments)
    assert [(t["student"], t["assignment"], t["score"], t["status"]) for t in totals] == [
        ("ann", CHAPTER, "1", "needs a look"), ("ann", "overall", "1", "needs a look"),
        ("smithjohn_12345", CHAPTER, "3", "complete"), ("smithjohn_12345", "overall", "3", "complete")]
    roster = tmp_path / "roster.csv"
    roster.write_text("Student,ID,SIS User ID,SIS Login ID,Section\n    Points Possible,,,,\n"
                      "\"Smith, John\",12345,,jsmith,A\n\"Doe, Jane\",999,,jdoe,A\n", encoding="utf-8")
    look: list[str] = []
    missing = gradebook.write_lms_files(totals, students, assignments, tmp_path, gradebook.read_roster(roster), look)
    assert len(missing) == 1 and missing[0].startswith("Doe, Jane")
    assert any(item.startswith("ann") and "not on the roster" in item for item in look)
    with open(tmp_path / "gradebook_canvas.csv", newline="", encoding="utf-8") as handle:
        canvas = list(csv.reader(handle))
    assert canvas[0] == ["Student", "ID", "SIS User ID", "SIS Login ID", "Section", CHAPTER]
    assert canvas[2] == ["Smith, John", "12345", "", "jsmith", "A", "3"]
    assert canvas[3][-1] == ""  # handed in nothing: left for the instructor
    moodle = (tmp_path / f"gradebook_moodle_{CHAPTER}.csv").read_text(encoding="utf-8").splitlines()
    assert moodle[0].startswith("Identifier,Full name,Email address,Grade,Maximum Grade")


def test_a_learner_notebook_under_plain_nbgrader_stops_with_a_message():
    from circuitlab.course.nbgrader_guard import LearnerNotebookGuard, NotAReleasedNotebook

    learner = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    with pytest.raises(NotAReleasedNotebook, match="circuitlab autograde"):
        LearnerNotebookGuard().preprocess(learner, {})
    released = nbgrader_source()
    assert LearnerNotebookGuard().preprocess(released, {})[0] is released
