"""Shared pieces of chapter 0's graders: dtype refusals, shape hints and gradients against torch's own."""
from __future__ import annotations

from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor

from circuitlab.grading.testing import (
    GradingFailure, NotAttempted, expect, expect_grads_close, expect_tensor, run_learner, seeded,
)

# How an error message may name each dtype: torch's own wording ("but got Int") or the dtype itself.
DTYPE_WORDS = {torch.int32: ("int32", "Int"), torch.float32: ("float32", "Float", "torch.float")}


def expect_refuses_dtype(fn: Callable[..., Any], args: Sequence[Any], dtype: torch.dtype, *, what: str) -> None:
    """``fn(*args)`` must raise, and its message must name ``dtype``: the spec asks for torch.long targets."""
    call = f"{what} with {dtype} targets"
    try:
        run_learner(fn, *args, what=call)
    except NotAttempted:
        raise
    except GradingFailure as failure:
        message = str(failure)
        expect(message.startswith(f"{call} raised"), message)
        named = message.split(" raised ", 1)[1]
        expect(any(word in named for word in DTYPE_WORDS[dtype]),
               f"{call} raised an error, but its message does not name the dtype ({message!r}). Say what was "
               f"wrong: raise TypeError(f\"targets must be torch.long, not {{targets.dtype}}\").")
        return
    cast = " (converting them with .long(), or comparing them with an arange, hides the caller's mistake)" if dtype.is_floating_point else ""
    raise GradingFailure(
        f"{call} returned a result{cast}; the spec says targets are torch.long and any other dtype raises a "
        f"TypeError naming it (torch.gather accepts int32 indices without a word, so check targets.dtype yourself)."
    )


def expect_shape(out: Any, expected: tuple[int, ...], *, what: str, shape_hints: Mapping[tuple[int, ...], str]) -> Tensor:
    """A tensor of shape ``expected``; a wrong shape that a known mistake produces is named (first match wins)."""
    expect_tensor(out, what=what)
    shape = tuple(out.shape)
    if shape != expected and shape in shape_hints:
        raise GradingFailure(f"{what} has shape {shape}, expected {expected}. {shape_hints[shape]}")
    return expect_tensor(out, shape=expected, what=what)


def squeezed_shape(shape: Sequence[int]) -> tuple[int, ...]:
    return tuple(s for s in shape if s != 1)


def expect_gradient_like_torch(fn: Callable[..., Any], torch_fn: Callable[..., Tensor], x: Tensor, *rest: Any,
                               what: str, context: str, seed: int = 11) -> None:
    """Back-propagate the same random cotangent through the learner's function and torch's; input gradients match."""
    mine, theirs = x.detach().clone().requires_grad_(True), x.detach().clone().requires_grad_(True)
    out = run_learner(fn, mine, *rest, what=what)
    expected = torch_fn(theirs, *rest)
    expect_tensor(out, shape=tuple(expected.shape), what=f"{what} ({context})")
    expect(out.requires_grad, f"{what} ({context}) is detached from its input (was .detach(), .item(), .data, "
                              "torch.no_grad() or NumPy used?): no gradient can flow back through it.")
    with seeded(seed):
        cotangent = torch.randn_like(expected)
    run_learner(lambda: (out * cotangent).sum().backward(), what=f"backward through {what}")
    (expected * cotangent).sum().backward()
    expect_grads_close({"the input": mine.grad}, {"the input": theirs.grad}, what=f"the gradient of {what}",
                       context=context)


# --------------------------------------------------------------------------- logsumexp and log-softmax


def magnitude_atol(x: Tensor, floor: float = 1e-5) -> float:
    """An absolute tolerance for x - logsumexp(x): both terms carry rounding of the size of the largest |x|."""
    finite = x[torch.isfinite(x)]
    largest = float(finite.abs().max()) if finite.numel() else 0.0
    return max(floor, 8 * torch.finfo(x.dtype).eps * largest)


def naive_logsumexp(x: Tensor, dim: int) -> Tensor:
    """log(sum(exp(x))) as it reads, in x's own dtype: inf or -inf once exp over- or underflows."""
    return x.exp().sum(dim).log()


def global_max_logsumexp(x: Tensor, dim: int) -> Tensor:
    """The shift by the max of the whole tensor: slices far below it underflow."""
    biggest = x.max()
    return (x - biggest).exp().sum(dim).log() + biggest


def _instability(naive: Tensor, expected: Tensor) -> str:
    """Which way exp failed, judged on where the formula as it reads is infinite and the answer is not."""
    broken = ~torch.isfinite(naive) & torch.isfinite(expected)
    high = bool((broken & (naive > 0)).any()) if naive.dtype != torch.bool else False
    low = bool((broken & ~(naive > 0)).any())
    parts = []
    if high:
        parts.append("exp(x) overflowed to inf for large entries (float32's exp overflows above about 88, "
                     "float64's above about 709)")
    if low:
        parts.append("exp(x) underflowed to 0 for very negative entries, so the log gave -inf")
    return " and ".join(parts)


def stability_hints(x: Tensor, dim: int, expected_lse: Tensor, *, to_output: Callable[[Tensor], Tensor],
                    naive_output: Tensor | None = None) -> dict[str, Tensor]:
    """Named mistakes for the unstable ways of writing a logsumexp-based function, present only where they differ.

    ``to_output`` maps a logsumexp over ``dim`` to the exercise's output (the identity for logsumexp,
    ``x - lse.unsqueeze(dim)`` for log-softmax), so one list serves both.
    """
    hints: dict[str, Tensor] = {}
    naive = naive_logsumexp(x, dim)
    failure = _instability(naive, expected_lse)
    if failure:
        hint = (f"Not stable: {failure}. Subtract each slice's max before exp and add it back after the log: "
                "log(sum(exp(x))) = m + log(sum(exp(x - m))).")
        hints[hint] = naive_output if naive_output is not None else to_output(naive)
    shifted_globally = global_max_logsumexp(x, dim)
    if not torch.allclose(shifted_globally, expected_lse, equal_nan=True):
        hint = ("You subtracted the max of the whole tensor; slices far below it still underflow. Take the max "
                "over dim, per slice (x.amax(dim, keepdim=True)).")
        hints[hint] = to_output(shifted_globally)
    return hints


def expect_no_nan_where_masked(out: Tensor, expected: Tensor, *, what: str) -> None:
    """A slice of only -inf: NaN there is -inf - (-inf), named before the generic NaN message."""
    expect_tensor(out, what=what) if not isinstance(out, Tensor) else None
    if out.shape == expected.shape and out.is_floating_point():
        nan_where_masked = torch.isnan(out) & torch.isneginf(expected)
        expect(not bool(nan_where_masked.any()),
               f"{what} is NaN for a slice whose entries are all -inf (a fully masked row), where the answer is "
               "-inf. Its max is -inf, and x - max = -inf - (-inf) = NaN: shift such slices by 0 instead "
               "(torch.where(torch.isfinite(m), m, 0)).")
