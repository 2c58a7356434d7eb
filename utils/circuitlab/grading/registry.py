"""The exercise registry: every chapter's exercises, discovered from ``circuitlab.chN`` packages."""
from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import circuitlab

ID_PATTERN = re.compile(r"^ch(\d+)\.([a-z][a-z0-9_]*)$")
PACKAGE_ROOT = Path(circuitlab.__file__).parent


@dataclass(frozen=True)
class Chapter:
    number: int
    slug: str
    title: str
    paper: str = ""
    hours: float = 1.0
    prerequisites: tuple[str, ...] | list[str] = ()
    summary: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "prerequisites", tuple(self.prerequisites))

    @property
    def package(self) -> str:
        return f"circuitlab.ch{self.number}"


@dataclass(frozen=True)
class Exercise:
    id: str
    title: str
    reference: str
    points: int = 1
    difficulty: int = 1
    importance: int = 1
    minutes: int = 10
    hints: tuple[str, ...] | list[str] = field(default_factory=tuple)
    bonus: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "hints", tuple(self.hints))  # frozen and hashable
        if not ID_PATTERN.match(self.id):
            raise ValueError(f"Exercise id {self.id!r} does not look like 'chN.name'.")
        for rating in (self.difficulty, self.importance):
            if not 1 <= rating <= 5:
                raise ValueError(f"{self.id}: difficulty and importance are rated 1 to 5.")

    @property
    def chapter(self) -> int:
        return int(ID_PATTERN.match(self.id).group(1))

    @property
    def name(self) -> str:
        return ID_PATTERN.match(self.id).group(2)

    @property
    def package(self) -> str:
        return f"circuitlab.ch{self.chapter}"

    @property
    def grader_path(self) -> Path:
        return PACKAGE_ROOT / f"ch{self.chapter}" / "graders" / f"test_{self.name}.py"

    @property
    def grade_id(self) -> str:
        """nbgrader ids allow only letters, digits, '_' and '-'."""
        return self.id.replace(".", "-")

    def reference_object(self) -> Any:
        module = importlib.import_module(f"{self.package}.reference")
        return getattr(module, self.reference)


class UnknownExercise(KeyError):
    def __str__(self) -> str:  # KeyError quotes its argument; we want a readable sentence
        return str(self.args[0])


def _chapter_packages() -> list[str]:
    names = [m.name for m in pkgutil.iter_modules([str(PACKAGE_ROOT)]) if re.fullmatch(r"ch\d+", m.name)]
    return sorted(names, key=lambda n: int(n[2:]))


@lru_cache(maxsize=1)
def chapters() -> tuple[Chapter, ...]:
    found = []
    for name in _chapter_packages():
        module = importlib.import_module(f"circuitlab.{name}")
        if hasattr(module, "CHAPTER"):
            found.append(module.CHAPTER)
    return tuple(found)


@lru_cache(maxsize=1)
def exercises() -> dict[str, Exercise]:
    found: dict[str, Exercise] = {}
    for name in _chapter_packages():
        try:
            module = importlib.import_module(f"circuitlab.{name}.exercises")
        except ModuleNotFoundError:
            continue
        for exercise in module.EXERCISES:
            if exercise.id in found:
                raise ValueError(f"Exercise id {exercise.id} is registered twice.")
            found[exercise.id] = exercise
    return found


def get_exercise(exercise_id: str) -> Exercise:
    try:
        return exercises()[exercise_id]
    except KeyError:
        close = [e for e in exercises() if e.split(".")[-1] == exercise_id.split(".")[-1]]
        suggestion = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownExercise(
            f"There is no exercise {exercise_id!r}.{suggestion} `circuitlab list` shows them all."
        ) from None


def chapter_of(exercise: Exercise) -> Chapter | None:
    for chapter in chapters():
        if chapter.number == exercise.chapter:
            return chapter
    return None
