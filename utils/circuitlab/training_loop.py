"""The plumbing the chapters' training loops share: the progress bar, the clock, and the recorded curves.

Each chapter keeps its own loop in its own file (what a step computes, when it evaluates and when
it stops is what the chapter teaches); what is the same everywhere lives here. Thread counts come
from :mod:`circuitlab.threads`.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, fields
from typing import Any, Callable, Iterable, TypeVar

Step = TypeVar("Step")


def progress_bar(steps: Iterable[Step], progress: bool, desc: str = "training", **options: Any) -> Any:
    """``steps`` with a progress bar under the cell (none when ``progress`` is false).

    Always a tqdm object, so a loop can call ``set_postfix`` whether or not the bar is shown.
    """
    from tqdm.auto import tqdm

    return tqdm(steps, disable=not progress, desc=desc, **options)


class Clock:
    """Seconds since the start of a run (wall time: what the learner waits for)."""

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def seconds(self) -> float:
        return time.perf_counter() - self.start

    def past(self, limit: float | None) -> bool:
        """Whether a time limit (None: none) has been used up."""
        return limit is not None and self.seconds() > limit


@dataclass
class Curves:
    """Base of a run's history: one list per field, one entry per evaluation.

    A chapter subclasses it with its own fields (``epoch``, ``test_accuracy``, ...), so the history
    reads as attributes, converts to a plain dict for a checkpoint's metadata, and answers "when
    did this first happen?" the same way in every chapter.
    """

    def append(self, **values: Any) -> None:
        """Add one evaluation's values, one per field named."""
        for name, value in values.items():
            getattr(self, name).append(value)

    def first_index(self, key: str, predicate: Callable[[Any], bool]) -> int | None:
        """The index of the first evaluation where ``predicate(value of key)`` holds, or None."""
        return next((index for index, value in enumerate(getattr(self, key)) if predicate(value)), None)

    def as_dict(self) -> dict[str, list]:
        return asdict(self)

    def names(self) -> list[str]:
        return [f.name for f in fields(self)]
