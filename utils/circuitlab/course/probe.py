"""Which exercises can be graded sealed: decided once per run and chapter, by grading the reference.

Sealed grading is only as good as the channel: a check that builds an ``nn.Module`` from the
student's class, back-propagates through the student's output, or hands the student's code a
model or hook cannot work through proxies, and an honest answer would score 0 for it. So before
any student is graded, one extra kernel per assignment gets the chapter's reference objects
under the handed-in names, and every exercise's grader runs against it through exactly the
sealed channel (``sealed.PROBE`` steps):

- the reference earns full marks sealed: the exercise is graded sealed for every student;
- otherwise, if the reference earns full marks with the checks run inside its kernel: the
  exercise is graded that way for every student (``IN_KERNEL``, marked on every row);
- otherwise not even the reference passes here: every student's answer is checked in the kernel
  for the report, and the score is left for the instructor (``BY_HAND``).

The probe kernel runs trusted code only (the installed references), so it may import them.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from circuitlab.course.plan import release_exercises
from circuitlab.course.sealed import BY_HAND, GRADED, IN_KERNEL, PROBE, SEALED

PROBE_STUDENT = "(reference probe)"


@dataclass(frozen=True)
class Sealing:
    exercise: str
    mode: str  # SEALED, IN_KERNEL or BY_HAND
    why: str = ""  # why not sealed


def probe_steps(release: Any) -> list[dict[str, Any]]:
    """One cell binding every exercise's reference to the name its test hands in, then a probe of each."""
    from circuitlab.grading.registry import UnknownExercise, get_exercise

    bindings, steps = [], []
    for position, exercise in enumerate(release_exercises(release).values()):
        try:
            registered = get_exercise(exercise.exercise)
        except UnknownExercise:
            continue
        name = exercise.handed_in if exercise.handed_in.isidentifier() else f"__circuitlab_probe_{position}__"
        bindings.append(f"from {registered.package}.reference import {registered.reference} as {name}")
        steps.append({"kind": "grade", "exercise": exercise.exercise, "handed_in": name, "points": exercise.points,
                      "test_source": exercise.test_source, "zero_reason": None, "mode": PROBE})
    binding = {"kind": "cell", "source": "\n".join(bindings), "owner": None, "label": "the reference bindings"}
    return [binding, *steps]


def decide(exercises: dict[str, float], event: dict[str, Any] | None) -> dict[str, Sealing]:
    """Each exercise's grading mode from the probe's result (``exercises``: name -> points)."""
    if event is None or event.get("event") != "done":
        why = (event or {}).get("message", "") or "the probe did not finish"
        return {name: Sealing(name, BY_HAND, f"the reference probe failed: {why}") for name in exercises}
    results = event.get("exercises", {})
    decided = {}
    for name, points in exercises.items():
        result = results.get(name)
        if result is None:
            decided[name] = Sealing(name, BY_HAND, "the reference probe did not reach this exercise")
            continue
        full = result.get("status") == GRADED and result.get("score") == float(points)
        why_not_sealed = result.get("probe", "")
        if full and result.get("mode") == SEALED:
            decided[name] = Sealing(name, SEALED)
        elif full and result.get("mode") == IN_KERNEL:
            decided[name] = Sealing(name, IN_KERNEL, f"the reference fails sealed: {why_not_sealed}")
        else:
            status = result.get("status", "") if result.get("status") != GRADED else ""
            inside = "; ".join(p for p in (status, result.get("detail", "")) if p) or "it did not pass"
            decided[name] = Sealing(name, BY_HAND, f"the reference fails sealed ({why_not_sealed or 'see above'}) "
                                                   f"and in the kernel ({inside})")
    return decided


def apply(steps: list[dict[str, Any]], sealing: dict[str, Sealing]) -> list[dict[str, Any]]:
    """A student's steps with each grade step's mode set from the probe's decision."""
    applied = []
    for step in steps:
        if step["kind"] == "grade" and step["exercise"] in sealing:
            decision = sealing[step["exercise"]]
            step = {**step, "mode": decision.mode, "why": decision.why}
        applied.append(step)
    return applied


def write(decisions: dict[str, dict[str, Sealing]], path: Path) -> None:
    """The run's probe results, per assignment, for the record (``OUT/sealing.json``)."""
    plain = {assignment: {name: asdict(s) for name, s in found.items()} for assignment, found in decisions.items()}
    path.write_text(json.dumps(plain, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def report_lines(decisions: dict[str, dict[str, Sealing]]) -> list[str]:
    lines = ["", "how each exercise was graded (reference probe of this run):"]
    for assignment, found in decisions.items():
        by_mode = {mode: [s.exercise for s in found.values() if s.mode == mode] for mode in (SEALED, IN_KERNEL, BY_HAND)}
        lines.append(f"  {assignment}:")
        lines.append(f"    sealed ({len(by_mode[SEALED])}): {', '.join(by_mode[SEALED]) or '-'}")
        lines.append(f"    in the student's kernel, not sealed ({len(by_mode[IN_KERNEL])}): "
                     f"{', '.join(by_mode[IN_KERNEL]) or '-'}")
        if by_mode[BY_HAND]:
            lines.append(f"    by hand: not even the reference passes ({len(by_mode[BY_HAND])}): "
                         f"{', '.join(by_mode[BY_HAND])}")
        for sealing in found.values():
            if sealing.mode != SEALED:
                lines.append(f"      {sealing.exercise}: {sealing.why}")
    return lines


def exercises_in_kernel(decisions: dict[str, dict[str, Sealing]]) -> set[str]:
    """The exercises whose checks must be importable inside the students' kernels."""
    return {s.exercise for found in decisions.values() for s in found.values() if s.mode != SEALED}
