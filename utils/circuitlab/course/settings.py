"""The nbgrader settings Circuit Lab grades with, and the environment the grading kernels run in.

Each setting closes one of nbgrader's traps (see docs/instructors.md):

- a per-cell timeout, generous because later chapters load models and train for minutes, and
  interrupting (not killing) the kernel so the cells after a runaway loop are still graded;
- deleted grade cells put back from the gradebook, so deleting a test cannot earn its points;
- one fixed kernel, whatever kernel name the learner's notebook carries;
- warnings silenced and progress bars off in the kernel, because nbgrader zeroes any test cell
  that writes to stderr.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

COURSE_ID = "circuitlab"
# Seconds one cell may run. Solution notebooks of the model chapters train for one to three
# minutes on a 2-core CPU; a loaded grading machine can be several times slower.
CELL_TIMEOUT = 900
# Seconds one whole submission may take before its grading process is stopped: the last resort
# for a kernel that ignores the interrupt sent at the cell timeout.
NOTEBOOK_TIMEOUT = 3600
KERNEL_NAME = "python3"
CONFIG_FILE = "nbgrader_config.py"


def nbgrader_config_text(cell_timeout: int = CELL_TIMEOUT, kernel_name: str = KERNEL_NAME) -> str:
    """The course's nbgrader_config.py: plain values, so an instructor can read and edit it."""
    return f'''\
# nbgrader settings for a Circuit Lab course, written by `circuitlab release`.
# Edit freely: `circuitlab release` keeps an existing file. Why each setting: docs/instructors.md.
c = get_config()  # noqa: F821 (nbgrader provides get_config)

c.CourseDirectory.course_id = "{COURSE_ID}"

# Seconds per cell. Model chapters load checkpoints and train for minutes; on timeout the
# kernel is interrupted and grading goes on with the next cell.
c.Execute.timeout = {int(cell_timeout)}
c.Execute.interrupt_on_timeout = True

# Grade every submission in the same kernel, whatever kernel name the learner's notebook names.
c.Execute.kernel_name = "{kernel_name}"

# A learner who deletes a test cell gets it back (and graded), not a free pass.
c.OverwriteCells.add_missing_cells = True

# A learner notebook (from chapters/ or Colab, no nbgrader metadata) stops with a message
# instead of failing deep inside nbgrader and being exported as a plain 0.
from circuitlab.course.nbgrader_guard import guard_learner_notebooks  # noqa: E402
guard_learner_notebooks(c)

# Every Circuit Lab test cell is visible (the checks live in the installed package), and a
# feedback file must never show hidden tests: `circuitlab autograde` strips any that appear.
'''


def write_config(course_dir: Path, cell_timeout: int = CELL_TIMEOUT, kernel_name: str = KERNEL_NAME) -> bool:
    """Write the course's nbgrader_config.py unless one exists; True if written."""
    path = Path(course_dir) / CONFIG_FILE
    if path.exists():
        return False
    path.write_text(nbgrader_config_text(cell_timeout, kernel_name))
    return True


def kernel_environment(threads: int | None = None) -> dict[str, str]:
    """The environment for nbgrader and the kernels it starts."""
    env = dict(os.environ)
    # nbgrader runs helper programs (alembic, for the gradebook) by name: find this environment's first.
    bin_dir = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([bin_dir] + [p for p in env.get("PATH", "").split(os.pathsep) if p and p != bin_dir])
    env.update({
        # A library warning printed to stderr inside a test cell would zero that cell.
        "PYTHONWARNINGS": "ignore",
        "TQDM_DISABLE": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "MPLBACKEND": "Agg",
        # Jupyter's old-path deprecation notice goes to stderr too.
        "JUPYTER_PLATFORM_DIRS": "1",
        # Grading is offline: learner code must not depend on the network, and a grading
        # machine should not fetch models on a learner's behalf.
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
    })
    # Several kernels share the machine: one thread pool per kernel, sized to its share, whose
    # idle threads sleep rather than spin on a core another kernel needs (circuitlab.threads).
    from circuitlab.threads import child_environment

    env.update(child_environment(threads))
    return env


# --------------------------------------------------------------------------- sealed grading

# Seconds each chapter's solution notebook takes from top to bottom on a quiet 2-core machine
# (`make bench`, bench/results.json). Time limits are derived from these, not one figure for all.
SOLUTION_SECONDS = {0: 8.8, 1: 43.0, 2: 31.0, 3: 35.0, 4: 39.0, 5: 32.0}
# A loaded grading machine can be several times slower than the quiet one measured above, and
# one cell (or one exercise's checks) can take most of a notebook's time.
TIME_LIMIT_FACTOR = 8
TIME_LIMIT_FLOOR = 60


def chapter_time_limit(chapter: int) -> int:
    """Seconds one answer cell, or one exercise's checks, may take in this chapter."""
    measured = SOLUTION_SECONDS.get(chapter, max(SOLUTION_SECONDS.values()))
    return max(TIME_LIMIT_FLOOR, int(round(measured * TIME_LIMIT_FACTOR)))


# Variables that make Python, IPython, Jupyter or pytest load code at start-up. Grading runs
# without them (and says which it removed): they would run code nobody reviewed inside the
# grading process, or change how the graders are collected.
PLUGIN_VARIABLES = (
    "PYTEST_PLUGINS", "PYTEST_ADDOPTS", "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "PYTHONSTARTUP", "PYTHONPATH",
    "PYTHONHOME", "PYTHONINSPECT", "PYTHONUSERBASE", "PYTHONEXECUTABLE", "PYTHONBREAKPOINT", "PYTHONDEVMODE",
    "PYTHONSAFEPATH", "PYTHONNOUSERSITE", "PYTHONPLATLIBDIR", "IPYTHONDIR", "JUPYTER_CONFIG_DIR",
    "JUPYTER_CONFIG_PATH", "JUPYTER_PATH", "JUPYTER_DATA_DIR", "JUPYTER_RUNTIME_DIR", "LD_PRELOAD", "LD_AUDIT",
    "COVERAGE_PROCESS_START",
)
PLUGIN_PREFIXES = ("COV_CORE_",)


def without_plugin_variables(env: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """``env`` without the variables that load code; also the names removed."""
    removed = sorted(name for name in env
                     if name in PLUGIN_VARIABLES or any(name.startswith(p) for p in PLUGIN_PREFIXES))
    return {k: v for k, v in env.items() if k not in removed}, removed
