"""Grader for ch4.phase_boundaries: the rules applied by brute force to the shipped curves and to curves built
to sit on each rule's boundary (a threshold met exactly, uneven epochs, a run that never groks)."""
from __future__ import annotations

from typing import Iterator

from circuitlab.ch4.fixtures import shipped_curves
from circuitlab.grading.testing import expect, expect_type, fail, run_learner, submitted

KEYS = ("memorised", "formed", "grokked", "cleaned")


def _rules(curves: dict, restricted_threshold: float = 0.1, norm_tolerance: float = 0.01, *, strict: bool = False,
           indices: bool = False, from_grokked: bool = True, first_within: bool = False) -> dict:
    """The spec's boundaries, or those of a common mistake, by scanning every evaluation."""
    epochs = list(curves["epoch"])
    label = (lambda i: i) if indices else (lambda i: epochs[i])

    def first(key, holds):
        return next((label(i) for i, v in enumerate(curves[key]) if holds(v)), None)

    memorised = first("train_accuracy", (lambda v: v > 0.99) if strict else (lambda v: v >= 0.99))
    formed = first("restricted_loss", (lambda v: v <= restricted_threshold) if strict else
                   (lambda v: v < restricted_threshold))
    grokked = first("test_accuracy", (lambda v: v > 0.99) if strict else (lambda v: v >= 0.99))
    cleaned = None
    if grokked is not None:
        norms = curves["weight_norm"]
        last = norms[-1]
        start = next(i for i, v in enumerate(curves["test_accuracy"]) if v >= 0.99) if from_grokked else 0
        close = [abs(n - last) <= norm_tolerance * abs(last) for n in norms]
        for i in range(start, len(epochs)):
            if close[i] if first_within else all(close[i:]):
                cleaned = label(i)
                break
    return {"memorised": memorised, "formed": formed, "grokked": grokked, "cleaned": cleaned}


def _cases() -> Iterator[tuple[str, dict, dict]]:
    yield "the shipped run's curves (every 10 epochs to 3000)", shipped_curves(), {}
    # Uneven epochs; thresholds met exactly (0.99 counts, a restricted loss of exactly 0.1 does not); the weight
    # norm dips into the tolerance band at epoch 35, leaves it, and settles from epoch 80 on.
    built = {
        "epoch":           [0,    5,    15,   20,   35,   50,   60,   80,   95,   110],
        "train_accuracy":  [0.01, 0.5,  0.99, 1.0,  1.0,  1.0,  1.0,  1.0,  1.0,  1.0],
        "restricted_loss": [4.7,  4.0,  0.5,  0.1,  0.09, 0.05, 0.01, 0.01, 0.01, 0.01],
        "test_accuracy":   [0.01, 0.01, 0.02, 0.3,  0.99, 0.995, 1.0, 1.0,  1.0,  1.0],
        "weight_norm":     [30.0, 40.0, 45.0, 44.0, 20.1, 25.0, 20.6, 20.15, 20.05, 20.0],
    }
    yield "curves built with thresholds met exactly and uneven epochs", built, {}
    yield ("the same curves with restricted_threshold=0.2 and norm_tolerance=0.3", built,
           {"restricted_threshold": 0.2, "norm_tolerance": 0.3})
    flat = {**built, "weight_norm": [20.0] * len(built["epoch"])}
    yield "the same curves with a weight norm that never changes (clean-up cannot end before grokking)", flat, {}
    never = {key: values[:4] for key, values in built.items()}
    yield "a run cut at epoch 20, before it groks", never, {}
    unfit = {**never, "train_accuracy": [0.01, 0.2, 0.5, 0.9]}
    yield "a run that never memorises (train accuracy stays below 0.99)", unfit, {}


def _copy(curves: dict) -> dict:
    return {key: list(values) for key, values in curves.items()}


def test_matches_reference():
    """the epochs that end each phase (int, or None for a phase not reached), on six sets of curves"""
    for what, curves, options in _cases():
        out = run_learner(submitted(), _copy(curves), **options, what=f"your phase_boundaries on {what}")
        expect_type(out, dict, what=f"your result on {what}")
        expect(sorted(out) == sorted(KEYS), f"Your result on {what} has the keys {sorted(out)}; return exactly "
               f"{list(KEYS)}.")
        want = _rules(curves, **options)
        for key in KEYS:
            if out[key] is not None:
                expect_type(out[key], int, what=f"your {key!r} on {what}")
        if out == want:
            continue
        mistakes = {
            "You used strict comparisons: 'reaches 0.99' includes 0.99 itself (>=), and the restricted loss must be "
            "below the threshold (<), so a loss of exactly the threshold does not count.": _rules(curves, **options,
                                                                                                    strict=True),
            "You returned positions in the lists; return the epochs (curves['epoch'][i]).":
                _rules(curves, **options, indices=True),
            "Your 'cleaned' is the first epoch whose norm is within the tolerance of the last; it must stay within "
            "it from then on (walk back from the end).": _rules(curves, **options, first_within=True),
            "Your 'cleaned' ignores 'grokked': clean-up ends at or after the epoch where test accuracy reaches "
            "0.99.": _rules(curves, **options, from_grokked=False),
        }
        for hint, result in mistakes.items():
            if out == result:
                fail(f"On {what}: {hint} (expected {want}, got {out})")
        wrong = [key for key in KEYS if out[key] != want[key]]
        fail(f"On {what}: expected {want}, got {out}; {wrong[0]!r} differs. Read the rules in the spec again.")


def test_default_thresholds():
    """the thresholds default to restricted_threshold=0.1 and norm_tolerance=0.01"""
    what, curves, _ = list(_cases())[1]
    out = run_learner(submitted(), _copy(curves), what=f"your phase_boundaries on {what}, without options")
    expect(out == _rules(curves), f"On {what} without options: expected {_rules(curves)}, got {out}; check that "
           "your defaults are restricted_threshold=0.1 and norm_tolerance=0.01.")
