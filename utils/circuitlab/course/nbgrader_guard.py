"""For plain ``nbgrader autograde``: a learner notebook stops with a message, not a silent 0.

A student who hands in the notebook from ``chapters/`` (Colab, JupyterLab) hands in a notebook
without nbgrader metadata. Stock nbgrader then fails deep inside with a ``KeyError``, and
``nbgrader export`` reports the submission as an ordinary 0.0. The course's nbgrader_config.py
puts ``LearnerNotebookGuard`` first among the sanitising steps so that such a notebook fails at
once, saying what it is and how to grade it.
"""
from __future__ import annotations

from typing import Any

from nbconvert.preprocessors import Preprocessor


class NotAReleasedNotebook(Exception):
    """The submission is not the released notebook (it has no nbgrader cells)."""


class LearnerNotebookGuard(Preprocessor):
    def preprocess(self, nb: Any, resources: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
        if not any(isinstance(cell.get("metadata", {}).get("nbgrader"), dict) for cell in nb.cells):
            name = resources.get("unique_key") or "this notebook"
            raise NotAReleasedNotebook(
                f"{name} has no nbgrader metadata: it is the Circuit Lab learner notebook (from chapters/ or "
                "Colab), not the released assignment, so nbgrader cannot grade it and would record 0. Grade it "
                "with `circuitlab autograde`, which finds the answers by their content, or grade it by hand.")
        return nb, resources


def guard_learner_notebooks(config: Any) -> None:
    """Put the guard first among nbgrader's sanitising steps (called from nbgrader_config.py)."""
    from nbgrader.converters.autograde import Autograde

    default = list(Autograde.class_traits()["sanitize_preprocessors"].make_dynamic_default())
    config.Autograde.sanitize_preprocessors = [LearnerNotebookGuard, *default]
