"""Shared pieces of the chapter 2 graders: named cases, isolated calls into learner code, cache-mutation
checks, and comparisons that look at a known mistake only when the answer is wrong.

The grading models and caches are shared (``lru_cache``) between graders and with the reference,
so a learner's function never receives them bare: it gets a deep copy of the model (eval mode, no
hooks; hooks it leaves behind and weights it changes are reported) and a copy of the cache (a write
into it is reported by name).
"""
from __future__ import annotations

import contextlib
import copy
from collections import Counter
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch

from circuitlab.grading import testing
from circuitlab.grading.testing import GradingFailure, expect_close, expect_python_float, expect_tensor, run_learner

__all__ = ["on_case", "call_with_model", "call_with_cache", "learner_copy", "expect_cache_untouched",
           "expect_python_float", "expect_matches", "HOOKS_LEFT_BEHIND"]

HOOKS_LEFT_BEHIND = (
    "Your function left hooks attached to the model ({hooks}): every later forward pass still runs them. Use "
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


def _hooks(model) -> Counter:
    # The bridge keeps hooks of its own on some modules: only hooks added since the call count.
    return Counter(testing._hooks_on(model))


def call_with_model(fn: Callable[..., Any], model, *args: Any, time_limit: float = 10.0, **kwargs: Any) -> Any:
    """Run learner code on a deep copy of a shared grading model (eval mode, no hooks, no gradients), then
    fail if it left hooks on the copy or changed its weights. The grader's own model is never touched."""
    learner_model = copy.deepcopy(model)
    learner_model.reset_hooks()
    learner_model.eval()
    before_hooks = _hooks(learner_model)
    before = [p.detach().clone() for p in learner_model.parameters()]
    result = run_learner(fn, learner_model, *args, time_limit=time_limit, **kwargs)
    left = sorted((_hooks(learner_model) - before_hooks).elements())
    if left:
        raise GradingFailure(HOOKS_LEFT_BEHIND.format(hooks=", ".join(left[:3]) + (" ..." if len(left) > 3 else "")))
    if any(not torch.equal(a, b.detach()) for a, b in zip(before, learner_model.parameters())):
        raise GradingFailure("Your function changed the model's weights; this exercise only reads them: work on "
                             "new tensors instead of writing into parameters.")
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


# --------------------------------------------------------------------------- comparing


def expect_matches(actual: Any, expected: torch.Tensor, *, axes: Sequence[str], what: str,
                   mistakes: Mapping[str, Any] | Callable[[], Mapping[str, Any]] | None = None,
                   hint: str | None = None, atol: float = 1e-5, rtol: float = 1e-4) -> torch.Tensor:
    """``expect_close`` for a floating-point answer, with the known mistakes (a dict, or a function returning
    one, called only for a wrong answer: some cost forward passes) and the axes named for the message."""
    expected = expected.detach()
    if isinstance(actual, torch.Tensor) and not actual.is_floating_point():
        raise GradingFailure(f"{what} has dtype {actual.dtype}; expected floating-point numbers.")
    if (isinstance(actual, torch.Tensor) and actual.shape == expected.shape
            and torch.allclose(actual.detach().to(expected.device, expected.dtype), expected, atol=atol, rtol=rtol)):
        return expect_tensor(actual, shape=tuple(expected.shape), what=what)
    found = (mistakes() if callable(mistakes) else mistakes) or {}
    expect_close(actual, expected, atol=atol, rtol=rtol, what=what, mistakes=found, hint=hint, axis_names=list(axes))
    return actual
