"""Grading: ``check`` (notebooks), ``grade`` (nbgrader test cells), ``hint``, ``progress``."""
from circuitlab.grading.engine import CheckResult, check, grade, hint, run_check
from circuitlab.grading.progress import progress

__all__ = ["CheckResult", "check", "grade", "hint", "progress", "run_check"]
