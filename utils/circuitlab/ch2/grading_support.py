"""Shared pieces of the chapter 2 graders: named cases, isolated calls into learner code, cache-mutation
checks, and comparisons that look at a known mistake only when the answer is wrong.

The grading models and caches are shared (``lru_cache``) between graders and with the reference,
so a learner's function never receives them bare: it gets a deep copy of the model (eval mode, no
hooks; hooks it leaves behind and weights it changes are reported) and a copy of the cache (a write
into it is reported by name).
"""
from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch

from circuitlab.grading import testing
from circuitlab.grading.testing import GradingFailure, expect_close, expect_python_float, expect_tensor, run_learner

__all__ = ["on_case", "call_with_model", "call_with_cache", "learner_copy", "expect_cache_untouched",
           "expect_python_float", "expect_matches", "full_ov_circuits"]

# --------------------------------------------------------------------------- named cases


def full_ov_circuits(heads: Sequence[tuple[str, int, int]]) -> dict:
    """``{description: W_E @ OV[layer, head] @ W_U}`` (a FactoredMatrix) for each (model name, layer, head)."""
    from circuitlab.ch2.models import describe_model, model_named

    circuits = {}
    for name, layer, head in heads:
        model = model_named(name)
        circuits[f"the full OV circuit W_E @ OV[{layer}, {head}] @ W_U of {describe_model(name)}"] = (
            model.W_E @ model.OV[layer, head] @ model.W_U)
    return circuits


# --------------------------------------------------------------------------- naming the case


@contextlib.contextmanager
def on_case(description: str) -> Iterator[None]:
    """Prefix any failure raised inside with the input it failed on, so the learner can reproduce it."""
    try:
        yield
    except GradingFailure as failure:
        raise type(failure)(f"On {description}: {failure}") from None


# --------------------------------------------------------------------------- calling learner code


def call_with_model(fn: Callable[..., Any], model, *args: Any, time_limit: float = 10.0, **kwargs: Any) -> Any:
    """Run learner code on a deep copy of a shared grading model (eval mode, no hooks, no gradients), then
    fail if it left hooks on the copy or changed its weights. The grader's own model is never touched."""
    with testing.isolated(model) as learner_model:
        return run_learner(fn, learner_model, *args, time_limit=time_limit, **kwargs)


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
