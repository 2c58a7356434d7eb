"""Shared pieces of the chapter 2 graders: named cases, isolated calls into learner code, Python-float
and cache-mutation checks, and mismatch messages that say where two tensors differ.

The grading models and caches are shared (``lru_cache``) between graders and with the reference,
so a learner's function never receives them bare: it gets a copy of the cache, the model has its
hooks reset before and checked after the call, and its weights are checked for edits.
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch

from circuitlab.grading.testing import GradingFailure, expect_no_mistake, expect_tensor, run_learner

HOOKS_LEFT_BEHIND = (
    "Your function left hooks attached to the model: every later forward pass still runs them. Use "
    "model.run_with_hooks(..., fwd_hooks=[...]), which removes its hooks when it returns, or call "
    "model.reset_hooks() when you are done."
)


# --------------------------------------------------------------------------- naming the case


@contextlib.contextmanager
def on_case(description: str) -> Iterator[None]:
    """Prefix any failure raised inside with the input it failed on, so the learner can reproduce it."""
    try:
        yield
    except GradingFailure as failure:
        raise type(failure)(f"On {description}: {failure}") from None


# --------------------------------------------------------------------------- calling learner code


def _has_hooks(model) -> bool:
    for hook_point in model.hook_dict.values():
        if getattr(hook_point, "_forward_hooks", None) or getattr(hook_point, "fwd_hooks", None):
            return True
    return False


def _fingerprint(model) -> list[torch.Tensor]:
    return [p.detach().double().sum() for p in model.parameters()]


def call_with_model(fn: Callable[..., Any], model, *args: Any, time_limit: float = 10.0, **kwargs: Any) -> Any:
    """Run learner code that receives a shared grading model: fresh (eval mode, no hooks) before the call,
    and afterwards no hooks left behind and the weights unchanged."""
    model.reset_hooks()
    model.eval()
    before = _fingerprint(model)
    try:
        result = run_learner(fn, model, *args, time_limit=time_limit, **kwargs)
    finally:
        left_behind = _has_hooks(model)
        model.reset_hooks()
        model.eval()
    if left_behind:
        raise GradingFailure(HOOKS_LEFT_BEHIND)
    if any(not torch.equal(a, b) for a, b in zip(before, _fingerprint(model))):
        raise GradingFailure("Your function changed the model's weights; read them, never write them. "
                             "(The grader's model is now damaged: restart the kernel before checking again.)")
    return result


def learner_copy(cache):
    """A copy of an ActivationCache whose tensors the learner may do anything with."""
    from transformer_lens import ActivationCache

    return ActivationCache({name: t.clone() for name, t in cache.cache_dict.items()}, cache.model,
                           has_batch_dim=cache.has_batch_dim)


def expect_cache_untouched(original, handed_out) -> None:
    """Fail, naming the entry, if the learner wrote into (or deleted from) the cache they were given."""
    for name, tensor in original.cache_dict.items():
        copy = handed_out.cache_dict.get(name)
        if copy is None or copy.shape != tensor.shape or not torch.equal(copy, tensor):
            raise GradingFailure(
                f"Your function changed the cache it was given (cache['{name}']). The cache belongs to the caller: "
                "compute new tensors (x = x - mean, not x -= mean; or work on .clone()) instead of writing into it."
            )


def call_with_cache(fn: Callable[..., Any], model, cache, *args: Any, **kwargs: Any) -> Any:
    """``call_with_model`` for functions of (model, cache, ...): the learner gets a copy of the cache,
    and a write into it is reported by name."""
    handed_out = learner_copy(cache)
    result = call_with_model(fn, model, handed_out, *args, **kwargs)
    expect_cache_untouched(cache, handed_out)
    return result


# --------------------------------------------------------------------------- types


def expect_python_float(value: Any, what: str) -> float:
    """The spec says "a Python float": a 0-dim tensor, a NumPy array or an int is a different type."""
    if isinstance(value, torch.Tensor):
        raise GradingFailure(
            f"{what} is a torch.Tensor of shape {tuple(value.shape)}; the spec asks for a Python float: "
            "call .item() on a one-element tensor."
        )
    if isinstance(value, bool) or not isinstance(value, float):
        raise GradingFailure(f"{what} is a {type(value).__name__}; the spec asks for a Python float.")
    return value


# --------------------------------------------------------------------------- where tensors differ


def _indices_text(indices: list[int], size: int) -> str:
    if len(indices) == size:
        return f"every one of the {size}"
    shown = ", ".join(str(i) for i in indices[:8])
    return f"{shown}{', ...' if len(indices) > 8 else ''} (of {size})"


def describe_difference(actual: torch.Tensor, expected: torch.Tensor, axes: Sequence[str],
                        atol: float, rtol: float) -> str:
    """Which indices along each named axis differ, and the largest difference with its full index."""
    diff = (actual.double() - expected.double()).abs().nan_to_num(nan=float("inf"))
    bad = diff > atol + rtol * expected.double().abs()
    parts = []
    for dim, axis in enumerate(axes):
        others = tuple(d for d in range(bad.ndim) if d != dim)
        along = bad.any(dim=others) if others else bad
        parts.append(f"{axis} {_indices_text(torch.nonzero(along)[:, 0].tolist(), bad.shape[dim])}")
    flat = int(diff.argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), diff.shape)) if diff.ndim else ()
    named = ", ".join(f"{axis}={i}" for axis, i in zip(axes, index))
    return (f"{int(bad.sum())} of {bad.numel()} entries differ, at " + "; ".join(parts) +
            f". The largest difference is at [{named}]: got {actual[index].item():.6g}, "
            f"expected {expected[index].item():.6g}.")


def expect_matches(actual: Any, expected: torch.Tensor, *, axes: Sequence[str], what: str,
                   mistakes: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
                   hint: str | None = None, atol: float = 1e-5, rtol: float = 1e-4,
                   dtype: Any = "float") -> torch.Tensor:
    """Type, shape and dtype first; then a known mistake's hint if the answer matches that mistake;
    otherwise, where the answer differs. ``mistakes`` may be a function, called only for a wrong answer."""
    expected = expected.detach()
    if isinstance(actual, torch.Tensor) and actual.shape == expected.shape and actual.is_floating_point():
        candidate = actual.detach().to(expected.device, expected.dtype)
        if not torch.allclose(candidate, expected, atol=atol, rtol=rtol):
            # Before the NaN check: some mistakes (a mask that hides a whole row) produce NaN themselves.
            expect_no_mistake(candidate, (mistakes() if callable(mistakes) else mistakes) or {}, expected,
                              atol=atol, rtol=rtol)
    actual = expect_tensor(actual, shape=tuple(expected.shape), dtype=dtype, what=what)
    actual = actual.detach().to(expected.device)
    if torch.allclose(actual.to(expected.dtype), expected, atol=atol, rtol=rtol):
        return actual
    message = f"{what} does not match the expected values: " + describe_difference(actual, expected, axes, atol, rtol)
    raise GradingFailure(message + (f" {hint}" if hint else ""))
