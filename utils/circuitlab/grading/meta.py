"""Decorators that tag buggy implementations (mutants) and valid alternatives for grader meta-tests.

Used only in ``tests/mutants/chN/name.py``; see ``docs/authoring.md``.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

T = TypeVar("T")


def mutant(hint: str) -> Callable[[T], T]:
    """Tag a wrong implementation; its failure report must contain ``hint`` (case-insensitive)."""

    def tag(obj: T) -> T:
        obj.__circuitlab_mutant__ = hint  # type: ignore[attr-defined]
        return obj

    return tag


def alternative(obj: T) -> T:
    """Tag a valid alternative implementation; the grader must pass it."""
    obj.__circuitlab_alternative__ = True  # type: ignore[attr-defined]
    return obj


def collect(namespace: dict[str, Any]) -> tuple[list[tuple[str, Any, str]], list[tuple[str, Any]]]:
    """The (name, object, hint) mutants and (name, object) alternatives defined in a module namespace."""
    mutants = [(n, o, o.__circuitlab_mutant__) for n, o in namespace.items() if hasattr(o, "__circuitlab_mutant__")]
    alternatives = [(n, o) for n, o in namespace.items() if getattr(o, "__circuitlab_alternative__", False)]
    return mutants, alternatives
