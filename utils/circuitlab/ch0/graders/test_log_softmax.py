"""Grader for ch0.log_softmax."""
import math

import pytest
import torch

from circuitlab.ch0.grading_support import (
    expect_gradient_like_torch, magnitude_atol, naive_logsumexp, stability_hints,
)
from circuitlab.grading.testing import expect_close, expect_tensor, run_learner, seeded, submitted

NEG_INF = float("-inf")


def _mistakes(x, dim):
    expected = torch.log_softmax(x, dim)
    lse = torch.logsumexp(x, dim)
    mistakes = stability_hints(x, dim, lse, to_output=lambda total: x - total.unsqueeze(dim))
    with torch.no_grad():
        by_hand_softmax = x.exp() / x.exp().sum(dim, keepdim=True)
    if not torch.isfinite(naive_logsumexp(x, dim)).all():
        mistakes["Not stable: the softmax as it reads, exp(x) / sum(exp(x)), gives inf / inf or 0 / 0 = NaN once "
                 "exp over- or underflows (entries near ±1000). Compute x - logsumexp(x) with a max-shifted "
                 "logsumexp instead."] = by_hand_softmax.log()
    softmax_then_log = x.softmax(dim).log()
    if not torch.allclose(softmax_then_log, expected, equal_nan=True):
        mistakes["You took the log of the softmax: probabilities that underflow to 0 come out as -inf, though "
                 "their log-probability is an ordinary number (about -1000 here). x - logsumexp(x) keeps "
                 "them."] = softmax_then_log
    mistakes["You returned the softmax itself, not its log."] = x.softmax(dim)
    mistakes["The sign is flipped: log_softmax is x - logsumexp(x), not logsumexp(x) - x."] = -expected
    n = x.shape[dim]
    if n > 1:
        mistakes["You used the log of the mean of exp(x), not of the sum: every entry is log(n) too "
                 "large."] = expected + math.log(n)
    for other in range(x.ndim):
        if other != dim % x.ndim and x.shape[other] > 1:
            mistakes[f"You normalised over dim {other}; use the dim argument (here {dim})."] = \
                torch.log_softmax(x, other)
    if x.ndim >= 2 and dim % x.ndim == x.ndim - 1 and x.shape[-1] == x.shape[-2]:
        mistakes["Put the reduced axis back before subtracting (unsqueeze(dim), or keepdim=True): without it "
                 "each row's logsumexp is subtracted along the wrong axis."] = x - lse.unsqueeze(-2)
    return mistakes


def _grade(x, dim, where, *, pass_dim=True):
    out = run_learner(submitted(), x, dim) if pass_dim else run_learner(submitted(), x)
    expected = torch.log_softmax(x, dim)
    what = f"log_softmax output ({where})"
    expect_close(out, expected, what=what, mistakes=_mistakes(x, dim), atol=magnitude_atol(x), rtol=1e-5)
    expect_tensor(out, dtype=x.dtype, what=what)


# (shape, dim, dtype): default dim, a middle axis, a negative dim, batch 1, a single class, a square matrix,
# float64.
SHAPES = [((3, 4, 5), 1, torch.float32), ((2, 6), -1, torch.float32), ((1, 5), -1, torch.float64),
          ((3, 1), -1, torch.float32), ((4, 4), -1, torch.float32), ((2, 3, 4), 0, torch.float64),
          ((1, 1, 7), 2, torch.float32)]


@pytest.mark.parametrize("shape, dim, dtype", SHAPES)
def test_matches_torch(shape, dim, dtype):
    """equals torch.log_softmax(x, dim), same shape and dtype"""
    with seeded(len(shape) + dim + 11):
        x = 3 * torch.randn(*shape, dtype=dtype)
    _grade(x, dim, f"x of shape {shape}, {dtype}, dim={dim}")


def test_default_dim():
    """dim defaults to -1"""
    with seeded(12):
        x = torch.randn(3, 2, 5)
    _grade(x, -1, "x of shape (3, 2, 5), dim left out (the last axis)", pass_dim=False)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("centre", [1000.0, -1000.0])
def test_large_magnitudes(centre, dtype):
    """stays finite and right for entries near 1000 and near -1000, ties included"""
    with seeded(13):
        x = centre + torch.randn(3, 4, dtype=dtype)
    x[1] = centre
    _grade(x, -1, f"x of shape (3, 4), {dtype}, entries near {centre:g}, row 1 all equal to {centre:g}, dim=-1")


def test_slices_at_different_scales():
    """right when one slice is near 1000 and another near -1000 in the same tensor"""
    with seeded(14):
        x = torch.randn(3, 5)
    x[0] += 1000.0
    x[1] -= 1000.0
    _grade(x, -1, "x of shape (3, 5), row 0 near 1000, row 1 near -1000, dim=-1")


def test_far_apart_within_a_slice():
    """a logit 1000 below the top one has log-probability about -1000, not -inf"""
    x = torch.tensor([[1000.0, 990.0, 0.0], [5.0, -995.0, 4.0]])
    _grade(x, -1, "x = [[1000, 990, 0], [5, -995, 4]], dim=-1")


def test_minus_infinity_entries():
    """a -inf entry (a masked choice) gives -inf, and the rest of its slice is unchanged"""
    with seeded(15):
        x = torch.randn(3, 4)
    x[0, 2] = NEG_INF
    x[2, :3] = NEG_INF
    _grade(x, -1, "x of shape (3, 4) with -inf entries (row 2 has one finite entry), dim=-1")


@pytest.mark.parametrize("large", [False, True], ids=["moderate", "near 1000 with -inf entries"])
def test_gradient(large):
    """the gradient equals torch.log_softmax's"""
    with seeded(16):
        x = torch.randn(2, 3, 4)
    if large:
        x = x + 1000.0
        x[1, 0, 2] = NEG_INF
    expect_gradient_like_torch(submitted(), torch.log_softmax, x, -1, what="log_softmax",
                               context="x of shape (2, 3, 4), dim=-1" + (", entries near 1000, one -inf" if large else ""))
