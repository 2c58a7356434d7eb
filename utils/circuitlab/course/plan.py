"""From a released notebook and a student's notebook to the steps a sealed grader takes.

Only parsing happens here, in the instructor's process: nothing the student wrote is run.

- The release is the template. Its own cells (setup, demonstrations) run as released, so an
  edited setup cell cannot change how the notebook runs; its test cells are not run at all (the
  grader runs in the trusted process at that point); each answer cell is replaced by the
  student's answer for that exercise.
- A student's answer is found wherever it sits: the cell with the exercise's grade id, or any
  cell that defines the name the test hands in; a cell that is still the stub loses to one that
  is not, so an answer moved above its stub counts.
- Metadata that changes execution (``skip-execution`` and ``raises-exception`` tags, notebook
  ``execution`` settings, kernel names) is ignored, and reported.
- Answer code that matches the published solution or the shipped reference, after names and
  whitespace are normalised, is flagged (not zeroed). Answer code that imports or reads the
  reference or the graders scores zero for that exercise.
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

EXECUTION_TAGS = {"skip-execution", "raises-exception", "skip", "remove-cell", "remove_cell", "hide-cell",
                  "skip-test", "nbval-skip", "nbval-ignore-output", "raises_exception"}
EXECUTION_METADATA = ("execution", "papermill", "nbclient", "jupyter", "skip", "autorun")
GRADED_CALL = re.compile(r"""\b(?:grade|check)\(\s*["'](ch\d+\.[A-Za-z0-9_]+)["']""")
FORBIDDEN_MODULES = re.compile(r"circuitlab\.ch\d+\.(reference|graders)|circuitlab\.grading\.(testing|engine)")
FORBIDDEN_STRINGS = re.compile(r"reference\.py|graders|circuitlab[./\\]ch\d+[./\\]reference")


@dataclass
class ReleaseExercise:
    exercise: str
    answer_id: str  # grade id of the answer cell
    test_id: str
    handed_in: str  # the expression the test cell hands to grade()
    points: float
    stub: str
    test_source: str


@dataclass
class Plan:
    steps: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # about the whole submission
    exercise_notes: dict[str, list[str]] = field(default_factory=dict)  # about one exercise
    flags: dict[str, str] = field(default_factory=dict)  # exercise -> why it is flagged (a copy)
    stripped: list[str] = field(default_factory=list)  # execution-changing metadata that was ignored

    def note(self, exercise: str, text: str) -> None:
        self.exercise_notes.setdefault(exercise, []).append(text)


def source_of(cell: Any) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def nbgrader_of(cell: Any) -> dict[str, Any]:
    meta = cell.get("metadata", {}) if isinstance(cell.get("metadata"), dict) else {}
    found = meta.get("nbgrader")
    return found if isinstance(found, dict) else {}


def exercise_name(test_id: str) -> str:
    """``ch0-split_heads-test`` -> ``ch0.split_heads``; other ids are kept as they are."""
    base = test_id.removesuffix("-test")
    found = re.fullmatch(r"(ch\d+)-(.+)", base)
    return f"{found.group(1)}.{found.group(2)}" if found else base


def handed_in_expression(test_source: str) -> str | None:
    """The second argument of the test cell's ``grade(id, obj)`` call, as source text."""
    try:
        tree = ast.parse(test_source)
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "grade" and len(node.args) >= 2:
            return ast.get_source_segment(test_source, node.args[1])
    return None


def release_exercises(release: Any) -> dict[str, ReleaseExercise]:
    """The release's exercises in order, keyed by the answer cell's grade id."""
    stubs = {nbgrader_of(c).get("grade_id"): source_of(c) for c in release["cells"]
             if nbgrader_of(c).get("solution") and not nbgrader_of(c).get("grade")}
    found: dict[str, ReleaseExercise] = {}
    for cell in release["cells"]:
        meta = nbgrader_of(cell)
        if not (meta.get("grade") and not meta.get("solution")):
            continue
        test_id = meta["grade_id"]
        answer_id = test_id.removesuffix("-test")
        source = source_of(cell)
        found[answer_id] = ReleaseExercise(exercise_name(test_id), answer_id, test_id,
                                           handed_in_expression(source) or "", float(meta.get("points", 0)),
                                           stubs.get(answer_id, ""), source)
    return found


# --------------------------------------------------------------------------- code shapes


class _Canonical(ast.NodeTransformer):
    """Names replaced by their order of first use; docstrings and annotations dropped."""

    def __init__(self) -> None:
        self.names: dict[str, str] = {}

    def _name(self, name: str) -> str:
        return self.names.setdefault(name, f"n{len(self.names)}")

    def visit_Name(self, node: ast.Name) -> ast.AST:
        return ast.copy_location(ast.Name(id=self._name(node.id), ctx=node.ctx), node)

    def visit_arg(self, node: ast.arg) -> ast.AST:
        return ast.copy_location(ast.arg(arg=self._name(node.arg), annotation=None), node)

    def _body(self, node: Any) -> Any:
        body = node.body
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) and \
                isinstance(body[0].value.value, str):
            body = body[1:] or [ast.Pass()]
        node.body = body
        return node

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.AST:
        node.name = self._name(node.name)
        node.returns = None
        node.decorator_list = []
        self._body(node)
        self.generic_visit(node)
        return node

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> ast.AST:
        node.name = self._name(node.name)
        self._body(node)
        self.generic_visit(node)
        return node

    def visit_AnnAssign(self, node: ast.AnnAssign) -> ast.AST:
        if node.value is None:
            return ast.Pass()
        return self.visit(ast.copy_location(ast.Assign(targets=[node.target], value=node.value), node))

    def visit_Import(self, node: ast.Import) -> None:
        return None  # imports differ between a cell and a module; the code itself is what counts

    visit_ImportFrom = visit_Import


def code_shape(source: str) -> str | None:
    """The code with names, docstrings, annotations, comments and layout normalised away."""
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError:
        return None
    tree = _Canonical().visit(tree)
    statements = [s for s in tree.body if s is not None]
    if not statements:
        return None
    return ast.dump(ast.Module(body=statements, type_ignores=[]), annotate_fields=False)


def _without_magics(source: str) -> str:
    return "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines())


def defined_names(source: str) -> set[str]:
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError:
        return set()
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


def reference_use(source: str) -> str | None:
    """Why this code hands in Circuit Lab's own solution or graders rather than the student's, or None."""
    try:
        tree = ast.parse(_without_magics(source))
    except SyntaxError:
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            full = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            if any(FORBIDDEN_MODULES.search(name) for name in full):
                return f"imports Circuit Lab's {node.module} ({', '.join(a.name for a in node.names)})"
        if isinstance(node, ast.Import):
            for alias in node.names:
                if FORBIDDEN_MODULES.search(alias.name):
                    return f"imports {alias.name}"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and FORBIDDEN_STRINGS.search(node.value):
            return f"refers to Circuit Lab's reference or grader files ({node.value[:60]!r})"
        if isinstance(node, ast.Attribute) and node.attr in ("reference_object", "reference") and \
                isinstance(node.value, (ast.Name, ast.Attribute)):
            return f"uses .{node.attr}"
    return None


# --------------------------------------------------------------------------- finding answers


def _is_stub(source: str, stub: str) -> bool:
    return code_shape(source) == code_shape(stub) or source.strip() == stub.strip()


def _is_check_only(source: str) -> bool:
    lines = [l for l in source.splitlines() if l.strip() and not l.strip().startswith(("#", "from ", "import "))]
    return bool(lines) and all(GRADED_CALL.search(l) for l in lines)


def find_answer(cells: list[Any], exercise: ReleaseExercise, plan: Plan) -> tuple[str, int | None]:
    """The student's answer for ``exercise`` and its cell index (None: the stub, nothing found)."""
    wanted = {exercise.handed_in} | defined_names(exercise.stub)
    candidates: list[tuple[int, str, bool]] = []  # (index, source, carries the grade id)
    for index, cell in enumerate(cells):
        if cell.get("cell_type") != "code":
            continue
        meta = nbgrader_of(cell)
        source = source_of(cell)
        if meta.get("grade") and not meta.get("solution"):
            continue  # a test cell
        by_id = meta.get("grade_id") == exercise.answer_id
        if by_id or (defined_names(source) & wanted and not _is_check_only(source)):
            candidates.append((index, source, by_id))
    answers = [c for c in candidates if not _is_stub(c[1], exercise.stub)]
    if not answers:
        return exercise.stub, None
    if len(answers) > 1:
        plan.note(exercise.exercise, f"{len(answers)} cells define {exercise.handed_in}; graded the last one "
                                     f"(cell {answers[-1][0]})")
    index, source, by_id = answers[-1]
    stub_after = [c for c in candidates if c[0] > index and _is_stub(c[1], exercise.stub)]
    if stub_after:
        plan.note(exercise.exercise, f"the answer in cell {index} sits above an unchanged stub; the answer is graded")
    elif not by_id:
        plan.note(exercise.exercise, f"answer found by its content in cell {index}")
    return source, index


def _hygiene(submitted: Any, plan: Plan) -> None:
    for key in EXECUTION_METADATA:
        if key in submitted.get("metadata", {}):
            plan.stripped.append(f"notebook metadata {key!r}")
    for index, cell in enumerate(submitted.get("cells", [])):
        meta = cell.get("metadata", {}) if isinstance(cell.get("metadata"), dict) else {}
        tags = meta.get("tags") if isinstance(meta.get("tags"), list) else []
        for tag in tags:
            if str(tag).lower() in EXECUTION_TAGS:
                plan.stripped.append(f"tag {tag!r} on cell {index}")
        for key in EXECUTION_METADATA:
            if key in meta:
                plan.stripped.append(f"metadata {key!r} on cell {index}")


def _copy_flag(source: str, published: dict[str, str | None]) -> str | None:
    shape = code_shape(source)
    if shape is None:
        return None
    for what, reference_shape in published.items():
        if reference_shape is not None and shape == reference_shape:
            return f"matches {what} (after normalising names and whitespace)"
    return None


def build_plan(release: Any, submitted: Any, solutions: dict[str, dict[str, str | None]]) -> Plan:
    """The grading steps for one submission. ``solutions``: exercise -> {what: code shape}."""
    plan = Plan()
    _hygiene(submitted, plan)
    cells = submitted.get("cells", []) if isinstance(submitted.get("cells"), list) else []
    exercises = release_exercises(release)
    _edited_tests(cells, exercises, plan)
    owner: str | None = None
    for position, cell in enumerate(release["cells"]):
        meta = nbgrader_of(cell)
        grade_id = meta.get("grade_id")
        if cell["cell_type"] != "code":
            plan.steps.append({"kind": "markdown", "source": source_of(cell)})
            continue
        if grade_id in exercises and meta.get("solution"):
            exercise = exercises[grade_id]
            owner = exercise.exercise
            answer, index = find_answer(cells, exercise, plan)
            plan.steps.append({"kind": "cell", "source": answer, "owner": owner,
                               "label": f"the answer cell of {owner}"})
            if index is not None:
                flag = _copy_flag(answer, solutions.get(owner, {}))
                if flag:
                    plan.flags[owner] = flag
                misuse = reference_use(answer)
                if misuse:
                    plan.steps[-1]["zero_reason"] = f"the answer {misuse}: hand in your own code"
            continue
        if meta.get("grade") and not meta.get("solution"):
            exercise = exercises[grade_id.removesuffix("-test")]
            zero = next((s.get("zero_reason") for s in reversed(plan.steps)
                         if s.get("owner") == exercise.exercise and s["kind"] == "cell" and s.get("zero_reason")), None)
            plan.steps.append({"kind": "grade", "exercise": exercise.exercise, "handed_in": exercise.handed_in,
                               "points": exercise.points, "test_source": exercise.test_source,
                               "zero_reason": zero})
            continue
        plan.steps.append({"kind": "cell", "source": source_of(cell), "owner": owner,
                           "label": f"release cell {position}"})
    return plan


def _edited_tests(cells: list[Any], exercises: dict[str, ReleaseExercise], plan: Plan) -> None:
    """Say when a student changed or removed a test cell: the release's test is what counts."""
    tests = {e.test_id: e for e in exercises.values()}
    seen: set[str] = set()
    for cell in cells:
        grade_id = nbgrader_of(cell).get("grade_id")
        if grade_id in tests:
            seen.add(grade_id)
            if source_of(cell).strip() != tests[grade_id].test_source.strip():
                plan.note(tests[grade_id].exercise, "the test cell was edited; the released test was used")
    learner_checks = {m.group(1) for c in cells for m in [GRADED_CALL.search(source_of(c))] if m}
    for test_id, exercise in tests.items():
        if test_id not in seen and exercise.exercise not in learner_checks:
            plan.note(exercise.exercise, "the test cell was deleted; the released test was used")


def published_shapes(source_notebook: Any, reference_sources: dict[str, str]) -> dict[str, dict[str, str | None]]:
    """Code shapes of each exercise's published solution (course source) and shipped reference."""
    from circuitlab.course.release import SOLUTION_MARKERS

    shapes: dict[str, dict[str, str | None]] = {}
    for cell in source_notebook["cells"]:
        meta = nbgrader_of(cell)
        if meta.get("solution") and not meta.get("grade"):
            text = "\n".join(l for l in source_of(cell).splitlines() if l.strip() not in SOLUTION_MARKERS)
            shapes.setdefault(exercise_name(meta["grade_id"]), {})["the published solution"] = code_shape(text)
    for exercise, text in reference_sources.items():
        shapes.setdefault(exercise, {})["Circuit Lab's shipped reference"] = code_shape(text)
    return shapes
