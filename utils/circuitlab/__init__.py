"""Circuit Lab: a hands-on curriculum in mechanistic interpretability.

In a notebook::

    from circuitlab import check, hint, progress, setup
"""
from __future__ import annotations

__version__ = "0.1.0"

from circuitlab.grading import check, grade, hint, progress  # noqa: E402
from circuitlab.environment import setup  # noqa: E402

__all__ = ["__version__", "check", "grade", "hint", "progress", "setup"]
