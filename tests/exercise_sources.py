"""Where tests find each exercise's pieces: master cells, stubs and mutants, by exercise id."""
from __future__ import annotations

import importlib
import importlib.util
from functools import lru_cache
from pathlib import Path
from typing import Any

from circuitlab.authoring.build import CHECK_LINE, masters, repo_root, solution_source, strip_solutions
from circuitlab.grading.meta import collect
from circuitlab.grading.registry import Exercise, exercises

ROOT = repo_root()
MUTANTS_DIR = ROOT / "tests" / "mutants"


@lru_cache(maxsize=None)
def expanded_master(path: Path) -> list[Any]:
    """A master's cells as the generator sees them: each (empty) solution cell filled with its
    exercise's definitions from the chapter's reference module."""
    import jupytext

    registry = exercises()
    cells = jupytext.read(path, fmt="py:percent").cells
    for cell in cells:
        if "solution" in cell.metadata:
            cell.source = solution_source(registry[cell.metadata["solution"]], cell.metadata.get("defines", ""))
    return cells


@lru_cache(maxsize=None)
def master_cells() -> dict[str, dict[str, str]]:
    """For each exercise id: its solution cell source and the expression its check cell hands in."""
    found: dict[str, dict[str, str]] = {}
    for path, _chapter in masters(ROOT):
        for cell in expanded_master(path):
            if "solution" in cell.metadata:
                found.setdefault(cell.metadata["solution"], {})["solution"] = cell.source
                found[cell.metadata["solution"]]["master"] = path.name
            if "check" in cell.metadata:
                match = CHECK_LINE.match(cell.source.strip())
                if match:
                    found.setdefault(cell.metadata["check"], {})["handed_in"] = match.group(2).strip()
    return found


def stub_object(exercise: Exercise) -> Any:
    """The learner's untouched stub: the solution cell with its solutions stripped, executed in a
    namespace holding the chapter's reference module (for imports and earlier classes)."""
    cells = master_cells()[exercise.id]
    module = importlib.import_module(f"{exercise.package}.reference")
    namespace: dict[str, Any] = dict(vars(module))
    namespace["__name__"] = "__learner_notebook__"  # as in a notebook, not the reference module
    exec(compile(strip_solutions(cells["solution"]), f"<stub {exercise.id}>", "exec"), namespace)
    return eval(cells["handed_in"], namespace)


def mutants_path(exercise: Exercise) -> Path:
    return MUTANTS_DIR / f"ch{exercise.chapter}" / f"{exercise.name}.py"


@lru_cache(maxsize=None)
def mutants_and_alternatives(exercise: Exercise) -> tuple[list, list]:
    path = mutants_path(exercise)
    if not path.exists():
        return [], []
    spec = importlib.util.spec_from_file_location(f"mutants_ch{exercise.chapter}_{exercise.name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return collect(vars(module))
