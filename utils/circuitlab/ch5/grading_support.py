"""Helpers shared by chapter 5's graders: building learner models with known weights,
and comparing frequencies measured on random batches with what they should be."""
from __future__ import annotations

import math
from typing import Any, Mapping

import torch
from torch import Tensor, nn

from circuitlab.grading.testing import GradingFailure, fail, run_learner


def learner_model_with(cls: Any, args: tuple, weights: Mapping[str, Tensor], what: str) -> nn.Module:
    """Construct the learner's class and load ``weights`` into it (names fixed by the given __init__)."""
    model = run_learner(cls, *args, what=f"constructing your {what}")
    if not isinstance(model, nn.Module):
        fail(f"Your {what} should be an nn.Module subclass; constructing it gave {type(model).__name__}.")
    try:
        model.load_state_dict({k: v.clone() for k, v in weights.items()}, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()[0]
        raise GradingFailure(
            f"Your {what} does not have the parameters the given __init__ creates ({first}). Keep the __init__ "
            "from the stub and write only the forward pass."
        ) from None
    return model


def frequency_band(p: Tensor, n: int, sigmas: float = 6.0) -> Tensor:
    """Half-width of the band a binomial frequency stays inside (``sigmas`` standard errors, plus slack)."""
    return sigmas * torch.sqrt(p * (1 - p) / n) + 2.0 / n


def close_frequency(measured: Tensor, expected: Tensor, n: int) -> bool:
    return bool(((measured - expected).abs() <= frequency_band(expected, n)).all())


def correlation(a: Tensor, b: Tensor) -> float:
    a, b = a.float().flatten(), b.float().flatten()
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float((a * a).sum()) * float((b * b).sum()))
    return float((a * b).sum()) / denominator if denominator > 0 else 0.0
