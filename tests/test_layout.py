"""The package's modules import one way, so each can be read without the ones after it."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from circuitlab.grading.registry import PACKAGE_ROOT

# Chapter 3 flows data -> model set-up -> analysis -> the training script.
CH3_ORDER = ["circuitlab.data.ioi", "circuitlab.ch3.reference", "circuitlab.ch3.ioi_setup", "circuitlab.ch3.analysis",
             "circuitlab.ch3.train_ioi"]


def _imported_modules(path: Path) -> set[str]:
    """Every circuitlab module a file imports, at the top or inside a function."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.startswith("circuitlab.")}


def _path_of(module: str) -> Path:
    return PACKAGE_ROOT.joinpath(*module.split(".")[1:]).with_suffix(".py")


@pytest.mark.parametrize("position", range(len(CH3_ORDER)), ids=CH3_ORDER)
def test_chapter3_modules_import_only_earlier_ones(position):
    module = CH3_ORDER[position]
    later = set(CH3_ORDER[position + 1:])
    backwards = sorted(_imported_modules(_path_of(module)) & later)
    assert not backwards, f"{module} imports {backwards}, which come after it in {CH3_ORDER}"
