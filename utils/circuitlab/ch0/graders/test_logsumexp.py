"""Grader for ch0.logsumexp."""
import math

import pytest
import torch

from circuitlab.ch0.grading_support import (
    expect_gradient_like_torch, expect_no_nan_where_masked, expect_shape, squeezed_shape, stability_hints,
)
from circuitlab.grading.testing import expect_close, expect_tensor, run_learner, seeded, submitted

NEG_INF = float("-inf")


def _shape_hints(shape, dim):
    dim = dim % len(shape)
    kept = tuple(1 if i == dim else s for i, s in enumerate(shape))
    reduced = tuple(s for i, s in enumerate(shape) if i != dim)
    hints = {kept: f"The reduced axis should disappear (keepdim=False), as in torch.logsumexp(x, dim={dim}); "
                   f"you kept it with size 1.",
             squeezed_shape(reduced): "A bare .squeeze() also removed another axis of size 1: squeeze only dim."}
    for other in range(len(shape)):
        wrong = tuple(s for i, s in enumerate(shape) if i != other)
        if other != dim and wrong != reduced:
            hints.setdefault(wrong, f"You reduced over dim {other}; use the dim argument (here {dim}), not a "
                                    "fixed axis.")
    hints.setdefault((), "You reduced over every axis; reduce over dim only.")
    return hints


def _grade(x, dim, where):
    out = run_learner(submitted(), x, dim)
    expected = torch.logsumexp(x, dim)
    what = f"logsumexp output ({where})"
    hints = _shape_hints(tuple(x.shape), dim) if x.ndim > 1 else {}
    expect_no_nan_where_masked(out, expected, what=what)
    expect_shape(out, tuple(expected.shape), what=what, shape_hints=hints)
    expect_tensor(out, dtype=x.dtype, what=what)
    mistakes = stability_hints(x, dim, expected, to_output=lambda lse: lse)
    biggest = x.amax(dim)
    n = x.shape[dim]
    if not torch.allclose(biggest, expected):
        mistakes["You returned the max; logsumexp is the max plus log(sum(exp(x - max))), larger than the max by "
                 "up to log(n) (log 2 for a tie of two)."] = biggest
        mistakes["You subtracted the max but did not add it back after the log."] = expected - biggest
    if n > 1:
        mistakes["You averaged the exponentials (log of the mean); logsumexp sums them: your result is log(n) "
                 "too small."] = expected - math.log(n)
    expect_close(out, expected, what=what, mistakes=mistakes, atol=1e-5, rtol=1e-5)


# (shape, dim, dtype): a 3-D tensor over its middle axis, a negative dim, batch 1, a reduced axis of size 1,
# a 1-D input (a 0-dim answer), other axes of size 1 that must stay, float64.
SHAPES = [((3, 4, 5), 1, torch.float32), ((2, 6), -1, torch.float32), ((1, 5), 0, torch.float32),
          ((4, 1, 3), -2, torch.float64), ((7,), 0, torch.float32), ((2, 3, 4), 0, torch.float64),
          ((5, 2), 1, torch.float32), ((1, 6), 1, torch.float32), ((3, 1, 4), -1, torch.float64)]


@pytest.mark.parametrize("shape, dim, dtype", SHAPES)
def test_matches_torch(shape, dim, dtype):
    """equals torch.logsumexp(x, dim), the axis removed, in x's dtype"""
    with seeded(len(shape) + dim + 3):
        x = 3 * torch.randn(*shape, dtype=dtype)
    _grade(x, dim, f"x of shape {shape}, {dtype}, dim={dim}")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("centre", [1000.0, -1000.0])
def test_large_magnitudes(centre, dtype):
    """stays finite and right for entries near 1000 and near -1000, ties included"""
    with seeded(5):
        x = centre + torch.randn(3, 4, dtype=dtype)
    x[0] = centre  # a four-way tie
    _grade(x, 1, f"x of shape (3, 4), {dtype}, entries near {centre:g}, row 0 all equal to {centre:g}, dim=1")


def test_slices_at_different_scales():
    """right when one slice is near 1000 and another near -1000 in the same tensor"""
    with seeded(6):
        x = torch.randn(4, 5)
    x[0] += 1000.0
    x[2] -= 1000.0
    _grade(x, -1, "x of shape (4, 5), row 0 near 1000, row 2 near -1000, dim=-1")


def test_minus_infinity():
    """-inf entries add nothing, and a slice of only -inf gives -inf (not NaN)"""
    with seeded(7):
        x = torch.randn(4, 3)
    x[0, 1] = NEG_INF
    x[1, :2] = NEG_INF
    x[3] = NEG_INF
    _grade(x, 1, "x of shape (4, 3) with -inf entries, row 3 entirely -inf, dim=1")


def test_tied_maxima():
    """ties at the maximum: [m, m] gives m + log 2"""
    x = torch.tensor([[2.0, 2.0, -1.0], [0.0, 0.0, 0.0]])
    _grade(x, 1, "x = [[2, 2, -1], [0, 0, 0]], dim=1")


@pytest.mark.parametrize("large", [False, True], ids=["moderate", "near 1000 with -inf entries"])
def test_gradient(large):
    """the gradient equals torch.logsumexp's (the softmax over dim)"""
    with seeded(8):
        x = torch.randn(3, 5, 2)
    if large:
        x = x + 1000.0
        x[0, 1, 0] = NEG_INF
    expect_gradient_like_torch(submitted(), torch.logsumexp, x, 1, what="logsumexp",
                               context="x of shape (3, 5, 2), dim=1" + (", entries near 1000, one -inf" if large else ""))
