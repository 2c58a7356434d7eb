"""Helpers for writing graders: every kind of bad learner input becomes a clear failure.

A grader is a pytest module (``circuitlab/chN/graders/test_name.py``) whose tests call
``submitted()`` for the learner's object and check it with the helpers below. See
``docs/authoring.md``.
"""
from __future__ import annotations

import contextlib
import copy
from collections import Counter
import ctypes
import linecache
import math
import random
import threading
import traceback
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import torch

__all__ = [
    "GradingFailure",
    "NotAttempted",
    "submitted",
    "reference",
    "grading_device",
    "current_exercise",
    "run_learner",
    "expect_tensor",
    "expect_close",
    "expect_no_mistake",
    "expect_type",
    "expect_python_float",
    "expect_grads_close",
    "describe_difference",
    "isolated",
    "fresh_model",
    "expect",
    "fail",
    "seeded",
]

DEFAULT_TIME_LIMIT = 10.0


class GradingFailure(AssertionError):
    """A check failed; the message is written for the learner."""


class NotAttempted(GradingFailure):
    """The learner's code still raises NotImplementedError: the exercise was not attempted."""


class _LearnerTimeout(BaseException):
    """Raised asynchronously in the grading thread when learner code overruns its time limit.

    A BaseException, so a learner's ``except Exception`` cannot swallow it.
    """


# --------------------------------------------------------------------------- context


class _Context:
    """What the grading engine injects for the duration of one check (data, not fixtures)."""

    def __init__(self) -> None:
        self.stack: list[dict[str, Any]] = []

    def push(self, **values: Any) -> None:
        self.stack.append(values)

    def pop(self) -> None:
        self.stack.pop()

    def get(self, key: str) -> Any:
        if not self.stack:
            raise RuntimeError(
                "No submission is being graded. Graders run through check()/grade() or `circuitlab check`, "
                "not directly with pytest."
            )
        return self.stack[-1][key]


CONTEXT = _Context()


def submitted() -> Any:
    """The learner's object being graded."""
    return CONTEXT.get("submission")


def reference() -> Any:
    """The reference object of the exercise being graded."""
    return CONTEXT.get("exercise").reference_object()


def current_exercise():
    return CONTEXT.get("exercise")


def grading_device() -> torch.device:
    """The device the learner chose in ``setup()`` (CPU unless they chose otherwise)."""
    from circuitlab.environment import current_device

    return torch.device(current_device())


# --------------------------------------------------------------------------- calling learner code


class _Watchdog:
    """Interrupts a thread that runs past a time limit, by raising _LearnerTimeout in it."""

    def __init__(self, thread_id: int, seconds: float) -> None:
        self.thread_id = thread_id
        self.seconds = seconds
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        if self._finished.wait(self.seconds):
            return
        with self._lock:
            if not self._done:
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self.thread_id), ctypes.py_object(_LearnerTimeout)
                )

    def __enter__(self) -> "_Watchdog":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._done = True
        self._finished.set()


_LIBRARY_MARKERS = ("site-packages", "dist-packages", str(Path(__file__).resolve().parents[1]), "/lib/python3")


def _is_learner_frame(filename: str) -> bool:
    if filename.startswith("<ipython-input") or "ipykernel_" in filename:
        return True
    resolved = str(Path(filename).resolve()) if not filename.startswith("<") else filename
    return not any(marker in resolved for marker in _LIBRARY_MARKERS) and not filename.startswith("<frozen")


def learner_line(exc: BaseException) -> str | None:
    """'line N: code' for the learner's own line where ``exc`` was raised (deepest learner frame)."""
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if _is_learner_frame(frame.filename):
            code = frame.line or linecache.getline(frame.filename, frame.lineno).strip()
            where = f" in {frame.name}()" if frame.name != "<module>" else ""
            return f"line {frame.lineno}{where}: {code}" if code else f"line {frame.lineno}{where}"
    return None


def _tensors_in(value: Any, path: str) -> Iterator[tuple[str, torch.Tensor]]:
    if isinstance(value, torch.Tensor):
        yield path, value
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _tensors_in(item, f"{path}[{i}]")
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _tensors_in(item, f"{path}[{key!r}]")


def _argument_tensors(args: Sequence[Any], kwargs: Mapping[str, Any]) -> list[tuple[str, torch.Tensor]]:
    found = []
    for i, arg in enumerate(args):
        found += list(_tensors_in(arg, f"argument {i + 1}"))
    for key, arg in kwargs.items():
        found += list(_tensors_in(arg, f"argument {key!r}"))
    return found


def _timed_out_before() -> list[str]:
    """Messages of calls that overran their time limit earlier in the current check."""
    try:
        return CONTEXT.get("timed_out")
    except (RuntimeError, KeyError):
        return []


def _describe(fn: Any) -> str:
    name = getattr(fn, "__qualname__", None) or getattr(type(fn), "__qualname__", "your code")
    return f"your {name}"


def _on_learner_device(args: Sequence[Any], kwargs: Mapping[str, Any], fn: Any) -> tuple[Any, Any, Any]:
    """Hand learner code its inputs on the device chosen in ``setup()`` (a no-op on the CPU).

    Input tensors are copied there; the learner's own module is moved there. When the grader
    passes a model as an argument, nothing moves: the model may be shared with the reference
    computation, and its inputs must stay on the model's device.
    """
    device = grading_device()
    if device.type == "cpu":
        return args, kwargs, fn
    if any(isinstance(value, torch.nn.Module) for value in (*args, *kwargs.values())):
        return args, kwargs, fn
    from circuitlab.environment import to_device

    try:
        if isinstance(fn, torch.nn.Module):
            fn = fn.to(device)
        return to_device(tuple(args), device, modules=False), to_device(dict(kwargs), device, modules=False), fn
    except (RuntimeError, TypeError) as exc:  # e.g. MPS holds no float64 tensors
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GradingFailure(
            f"This check's inputs cannot be put on your device ({device}): {detail}. "
            "Run setup(device='cpu') and check again; the CPU runs every check."
        ) from None


def run_learner(fn: Callable[..., Any], *args: Any, what: str | None = None,
                time_limit: float = DEFAULT_TIME_LIMIT, **kwargs: Any) -> Any:
    """Call learner code safely and return what it returns.

    - an exception becomes a GradingFailure naming it and quoting the learner's line;
    - NotImplementedError becomes NotAttempted;
    - a tensor argument modified in place is reported (and the check fails);
    - code running past ``time_limit`` seconds is interrupted and reported.
    """
    what = what or _describe(fn)
    if not callable(fn):
        raise GradingFailure(f"Expected a function or class, but got {type(fn).__name__}: {fn!r:.80}.")
    overran = _timed_out_before()
    if overran:
        # One runaway call is enough: don't make the learner wait for every remaining test.
        raise GradingFailure(overran[0])
    args, kwargs, fn = _on_learner_device(args, kwargs, fn)
    tensors = _argument_tensors(args, kwargs)
    snapshots = [(path, t, t.detach().clone()) for path, t in tensors]
    try:
        with _Watchdog(threading.get_ident(), time_limit):
            result = fn(*args, **kwargs)
    except _LearnerTimeout:
        message = (
            f"{what} ran for more than {time_limit:g} s and was stopped. Look for a loop that never ends, "
            "or a Python loop over every element where a tensor operation would do."
        )
        _timed_out_before().append(message)
        raise GradingFailure(message) from None
    except GradingFailure:
        raise
    except NotImplementedError:
        raise NotAttempted(f"{what} still raises NotImplementedError: replace the stub with your implementation.") from None
    except Exception as exc:  # the learner's bug, reported rather than crashing the grader
        line = learner_line(exc)
        where = f"\n    at {line}" if line else ""
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise GradingFailure(f"{what} raised {type(exc).__name__}: {message}{where}") from None
    for path, original, snapshot in snapshots:
        same = (
            original.shape == snapshot.shape
            and torch.equal(torch.nan_to_num(original.detach(), nan=0.0), torch.nan_to_num(snapshot, nan=0.0))
        )
        if not same:
            original.data.copy_(snapshot) if original.shape == snapshot.shape else None
            raise GradingFailure(
                f"{what} modified its input in place ({path}). Inputs belong to the caller: compute a new tensor "
                "(for example x = x - mean rather than x -= mean, or work on x.clone())."
            )
    return result


# --------------------------------------------------------------------------- expectations


def fail(message: str) -> None:
    raise GradingFailure(message)


def expect(condition: Any, message: str) -> None:
    if not condition:
        raise GradingFailure(message)


def _shape_text(shape: Sequence[Any]) -> str:
    return "(" + ", ".join("*" if s is None else str(s) for s in shape) + ")"


_PLAIN_TENSOR_TYPES = (torch.Tensor, torch.nn.Parameter)
_DTYPE_ALIASES = {torch.int64: "torch.long", torch.int32: "torch.int", torch.float32: "torch.float",
                  torch.float64: "torch.double", torch.bool: "torch.bool"}


def _dtype_text(dtype: Any) -> str:
    alias = _DTYPE_ALIASES.get(dtype)
    return f"{dtype} ({alias})" if alias and alias != str(dtype) else str(dtype)


def _refuse_tensor_subclass(value: torch.Tensor, what: str) -> None:
    if type(value) not in _PLAIN_TENSOR_TYPES:
        raise GradingFailure(
            f"{what} is a {type(value).__name__}, a subclass of torch.Tensor; return a plain torch.Tensor "
            "(x.as_subclass(torch.Tensor) converts one)."
        )


def expect_type(value: Any, types: type | tuple[type, ...], what: str = "your output") -> Any:
    """Check that ``value`` is an instance of ``types`` and return it.

    Stricter than isinstance where Python is lenient: a bool is not an int, a NumPy scalar is
    not a Python float or int, and a tensor subclass is not a torch.Tensor (unless named).
    """
    import numpy as np

    wanted = types if isinstance(types, tuple) else (types,)
    names = " or ".join(("an " if t.__name__[0] in "aeiou" else "a ") + t.__name__ for t in wanted)
    ok = isinstance(value, wanted)
    if isinstance(value, bool) and bool not in wanted:
        ok = False
    if isinstance(value, np.generic) and not any(issubclass(t, np.generic) for t in wanted):
        ok = False
    if isinstance(value, torch.Tensor) and ok and type(value) not in wanted:
        _refuse_tensor_subclass(value, what)
    if not ok:
        extra = " (did you forget a return statement?)" if value is None else ""
        raise GradingFailure(f"{what} should be {names}, but it is {_type_text(value)}{extra}.")
    return value


def _type_text(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return f"a torch.Tensor of shape {_shape_text(tuple(value.shape))} and dtype {value.dtype}"
    return f"a {type(value).__module__}.{type(value).__qualname__}" if type(value).__module__ not in (
        "builtins",) else f"a {type(value).__name__}"


def expect_python_float(value: Any, what: str = "your output", *, allow_int: bool = True,
                        finite: bool = True) -> float:
    """Check that ``value`` is a plain Python number (float, or int when ``allow_int``) and return it.

    A 0-dim tensor or a NumPy scalar fails with a message saying how to convert it (``.item()``).
    """
    import numpy as np

    if isinstance(value, torch.Tensor):
        how = "call .item() on it" if value.numel() == 1 else "it should be a single number"
        kind = f"a 0-dim torch.Tensor (dtype {value.dtype})" if value.ndim == 0 else _type_text(value)
        raise GradingFailure(
            f"{what} should be a Python float, but it is {kind}: {how} "
            "(.item() also detaches it from the autograd graph)."
        )
    if isinstance(value, np.generic):
        raise GradingFailure(f"{what} should be a Python float, but it is a NumPy {type(value).__name__}: "
                             "convert it with float(...) or .item().")
    accepted = (float, int) if allow_int else (float,)
    if isinstance(value, bool) or not isinstance(value, accepted):
        extra = " (did you forget a return statement?)" if value is None else ""
        raise GradingFailure(f"{what} should be a Python float, but it is {_type_text(value)}{extra}.")
    if finite and not math.isfinite(value):
        raise GradingFailure(f"{what} is {value}; expected a finite number.")
    return float(value)


def expect_tensor(value: Any, shape: Sequence[int | None] | None = None, dtype: Any = None,
                  what: str = "your output") -> torch.Tensor:
    """Check that ``value`` is a tensor of the given shape (None = any size) and dtype, without NaN.

    ``dtype`` is exact (torch.int32 is not torch.long); ``"float"`` accepts any floating-point dtype.
    Tensor subclasses are refused: a subclass can override comparisons and pass any check.
    """
    if not isinstance(value, torch.Tensor):
        extra = " (did you forget a return statement?)" if value is None else ""
        raise GradingFailure(f"{what} should be a torch.Tensor, but it is {type(value).__name__}{extra}.")
    _refuse_tensor_subclass(value, what)
    if shape is not None:
        ok = value.ndim == len(shape) and all(s is None or s == v for s, v in zip(shape, value.shape))
        if not ok:
            raise GradingFailure(
                f"{what} has shape {_shape_text(tuple(value.shape))}, expected {_shape_text(tuple(shape))}."
            )
    if dtype == "float":
        if not value.is_floating_point():
            raise GradingFailure(f"{what} has dtype {value.dtype}; expected a floating-point tensor.")
    elif dtype is not None and value.dtype != dtype:
        raise GradingFailure(f"{what} has dtype {_dtype_text(value.dtype)}; expected {_dtype_text(dtype)}.")
    if value.is_floating_point() and torch.isnan(value).any():
        raise GradingFailure(
            f"{what} contains NaN. Common causes: 0 * inf (multiplying a mask of -inf by 0), "
            "dividing by zero, or the log of a negative number."
        )
    return value


def _matches(actual: torch.Tensor, candidate: Any, atol: float, rtol: float) -> bool:
    candidate = torch.as_tensor(candidate)
    if candidate.shape != actual.shape:
        return False
    try:
        return bool(torch.allclose(actual.to(candidate.device, candidate.dtype), candidate, atol=atol, rtol=rtol,
                                   equal_nan=True))
    except (RuntimeError, TypeError):
        return False


def expect_no_mistake(actual: Any, mistakes: Mapping[str, Any], expected: Any = None, *, atol: float = 1e-5,
                      rtol: float = 1e-4) -> None:
    """Fail with a mistake's hint if ``actual`` matches what that mistake produces (and not ``expected``)."""
    if not isinstance(actual, torch.Tensor):
        return
    actual = actual.detach()
    for mistake, candidate in mistakes.items():
        if _matches(actual, candidate, atol, rtol) and (expected is None or not _matches(actual, expected, atol, rtol)):
            raise GradingFailure(mistake)


def expect_close(actual: Any, expected: Any, *, atol: float = 1e-5, rtol: float = 1e-4,
                 what: str = "your output", mistakes: Mapping[str, Any] | None = None,
                 hint: str | None = None, axis_names: Sequence[str] | None = None,
                 exact_dtype: bool | None = None) -> None:
    """Check ``actual`` against ``expected``; if it matches a known mistake, name that mistake.

    Order: type (a plain tensor), dtype when exact, the named mistakes, shape, NaN, then values.
    ``exact_dtype`` defaults to True when ``expected`` is an integer or bool tensor (torch.int32 where
    torch.long is expected fails, naming both) and to False for floating point (float64 is compared
    as float32). ``axis_names`` (one per dimension) let the generic message say where values differ.
    """
    expected = torch.as_tensor(expected).detach()
    if isinstance(actual, torch.Tensor):
        _refuse_tensor_subclass(actual, what)
        actual = actual.detach()
        if exact_dtype is None:
            exact_dtype = not expected.is_floating_point() and not expected.is_complex()
        if exact_dtype and actual.dtype != expected.dtype:
            raise GradingFailure(f"{what} has dtype {_dtype_text(actual.dtype)}; expected {_dtype_text(expected.dtype)}.")
        if actual.device != expected.device:
            actual = actual.to(expected.device)
        expect_no_mistake(actual, mistakes or {}, expected, atol=atol, rtol=rtol)
    expect_tensor(actual, shape=tuple(expected.shape), what=what)
    if expected.is_floating_point() and actual.dtype != expected.dtype:
        actual = actual.to(expected.dtype)
    if actual.dtype == torch.bool or expected.dtype == torch.bool:
        close = torch.equal(actual.bool(), expected.bool())
        diff = (actual.bool() != expected.bool()).float()
    else:
        close = torch.allclose(actual.to(expected.dtype), expected, atol=atol, rtol=rtol, equal_nan=True)
        diff = (actual.to(expected.dtype) - expected).abs().float()
    if close:
        return
    diff = torch.nan_to_num(diff, nan=float("inf"))
    flat = int(diff.argmax())
    index = tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), expected.shape)) if expected.ndim else ()
    got, want = actual[index].item(), expected[index].item()
    n_bad = int((diff > atol + rtol * expected.abs().float()).sum()) if expected.dtype != torch.bool else int(diff.sum())
    message = (
        f"{what} differs from the expected values in {n_bad} of {expected.numel()} entries; "
        f"the largest difference is at index {index}: got {got:.6g}, expected {want:.6g}."
    )
    where = describe_difference(actual, expected, axis_names=axis_names, atol=atol, rtol=rtol)
    if where:
        message += f" {where}"
    if hint:
        message += f" {hint}"
    raise GradingFailure(message)


# --------------------------------------------------------------------------- describing a difference


def _index_ranges(indices: Sequence[int]) -> str:
    """[3, 4, 5, 9] -> '3..5, 9'."""
    parts: list[str] = []
    start = prev = None
    for i in list(indices) + [None]:
        if start is None:
            start = prev = i
        elif i is not None and i == prev + 1:
            prev = i
        else:
            parts.append(str(start) if start == prev else f"{start}..{prev}")
            start = prev = i
    return ", ".join(parts[:6]) + (", ..." if len(parts) > 6 else "")


def _nice_number(value: float) -> str:
    """' ≈ sqrt(2)', ' ≈ 1/8', ... when ``value`` is close to a simple expression, else ''."""
    if value == 0 or not math.isfinite(value):
        return ""
    sign = "-" if value < 0 else ""
    magnitude = abs(value)
    for inverse, x in ((False, magnitude), (True, 1 / magnitude)):
        prefix = "1/" if inverse else ""
        rounded = round(x)
        if 2 <= rounded <= 4096 and abs(x - rounded) < 1e-3 * x:
            return f" ≈ {sign}{prefix}{rounded}" if inverse else ""
        square = round(x * x)
        if 2 <= square <= 4096 and abs(x * x - square) < 2e-3 * x * x and math.isqrt(square) ** 2 != square:
            return f" ≈ {sign}{prefix}sqrt({square})"
    if sign and abs(magnitude - 1) < 1e-3:
        return " (the sign is flipped)"
    return ""


def describe_difference(actual: torch.Tensor, expected: torch.Tensor, *, axis_names: Sequence[str] | None = None,
                        atol: float = 1e-5, rtol: float = 1e-4) -> str:
    """One or two sentences on HOW ``actual`` differs from ``expected`` (same shape), or '' if nothing simple fits.

    Recognises a constant factor, a constant offset, swapped last two axes, and differences confined to
    some indices of an axis ("differs only at query position 3..5").
    """
    if actual.shape != expected.shape or expected.numel() == 0:
        return ""
    if expected.dtype == torch.bool or actual.dtype == torch.bool:
        a, e = actual.bool().float(), expected.bool().float()
    else:
        a, e = actual.detach().double(), expected.detach().double()
    if not (torch.isfinite(a).all() and torch.isfinite(e).all()):
        bad = ~torch.isclose(a, e, atol=atol, rtol=rtol, equal_nan=True)
        return _where_text(bad, axis_names)
    bad = ~torch.isclose(a, e, atol=atol, rtol=rtol)
    sentences: list[str] = []
    scale = float(e.abs().max())
    if e.ndim >= 2 and e.shape[-1] == e.shape[-2] and e.shape[-1] > 1 and torch.allclose(
            a, e.transpose(-1, -2), atol=atol, rtol=rtol):
        names = _axis_labels(axis_names, e.ndim)
        sentences.append(f"It equals the expected values with the last two axes ({names[-2]}, {names[-1]}) swapped.")
    elif scale > 0:
        significant = e.abs() > 1e-3 * scale
        if bool(significant.any()) and bool((a[~significant].abs() <= atol + 1e-3 * scale).all()):
            ratios = a[significant] / e[significant]
            factor = float(ratios.median())
            spread = float((ratios - factor).abs().max())
            if spread <= 1e-3 * max(abs(factor), 1e-12) and abs(factor - 1) > 1e-3:
                sentences.append(f"Every entry is off by the same factor {factor:.4g}{_nice_number(factor)}.")
        offsets = a - e
        if not sentences and float(offsets.max() - offsets.min()) <= atol + 1e-4 * scale:
            offset = float(offsets.mean())
            sentences.append(f"Every entry is off by the same amount, {offset:+.4g}.")
    located = _where_text(bad, axis_names)
    if located:
        sentences.append(located)
    return " ".join(sentences)


def _axis_labels(axis_names: Sequence[str] | None, ndim: int) -> list[str]:
    if axis_names is not None and len(axis_names) == ndim:
        return list(axis_names)
    return [f"axis {d}" for d in range(ndim)]


def _where_text(bad: torch.Tensor, axis_names: Sequence[str] | None) -> str:
    """'It differs only at query position 3..5.' for the axes along which the wrong entries are confined."""
    if bad.ndim == 0 or not bool(bad.any()):
        return ""
    names = _axis_labels(axis_names, bad.ndim)
    confined: list[str] = []
    for dim in range(bad.ndim):
        if bad.shape[dim] < 2:
            continue
        others = [d for d in range(bad.ndim) if d != dim]
        wrong_here = bad.any(dim=others) if others else bad
        wrong = [int(i) for i in torch.nonzero(wrong_here).flatten()]
        if len(wrong) < bad.shape[dim]:
            confined.append(f"{names[dim]} {_index_ranges(wrong)} (of 0..{bad.shape[dim] - 1})")
    if not confined:
        return ""
    return "It differs only at " + "; ".join(confined) + "."


# --------------------------------------------------------------------------- gradients


def _gradients(source: Any) -> dict[str, torch.Tensor | None]:
    """name -> gradient: a module's parameters' .grad, a sequence of tensors' .grad, or a mapping of gradients."""
    if isinstance(source, torch.nn.Module):
        return {name: p.grad for name, p in source.named_parameters()}
    if isinstance(source, Mapping):
        return dict(source)
    if isinstance(source, torch.Tensor):
        return {"the input": source.grad}
    return {f"tensor {i}": t.grad for i, t in enumerate(source)}


def expect_grads_close(actual: Any, expected: Any, *, what: str = "the gradient", atol: float = 1e-6,
                       rtol: float = 1e-3, context: str = "") -> None:
    """Compare gradients, name by name: modules (their parameters' .grad), sequences of tensors (.grad) or
    mappings name -> gradient.

    The tolerance is relative to each expected gradient's largest entry, so tiny gradients are compared
    as carefully as large ones. A missing gradient (None) where the reference has one fails, and so does
    a gradient where the reference has none.
    """
    got, want = _gradients(actual), _gradients(expected)
    # Gradients that are zero in exact arithmetic (a key bias under softmax) come out as rounding noise,
    # so "zero" and the absolute tolerance are measured against the largest gradient of the whole set.
    overall = max((float(g.detach().abs().max()) for g in want.values() if g is not None and g.numel()), default=0.0)
    floor = max(atol, 1e-5 * overall)
    where = f" ({context})" if context else ""
    for name, want_grad in want.items():
        if name not in got:
            raise GradingFailure(f"{what}: there is no {name!r} to compare (expected one).")
        got_grad = got[name]
        if want_grad is None or float(want_grad.detach().abs().max()) <= floor:
            if got_grad is not None and float(got_grad.detach().abs().max()) > 10 * floor:
                raise GradingFailure(f"{what} of {name}{where} is non-zero, but no gradient should reach it.")
            continue
        if got_grad is None:
            raise GradingFailure(
                f"No gradient reached {name}{where}: {what} is None. Was it detached (.detach(), .item(), .data, "
                "torch.no_grad()) or did backward() never run?"
            )
        scale = float(want_grad.detach().abs().max())
        expect_close(got_grad, want_grad, atol=max(floor, rtol * scale), rtol=rtol, what=f"{what} of {name}{where}")


# --------------------------------------------------------------------------- models handed to learners


_HOOK_DICTS = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")


def _hooks_on(model: torch.nn.Module) -> list[str]:
    """'name (kind)' once per module hook and parameter hook on ``model`` (a module with two hooks of one
    kind is listed twice, so a hook added beside the model's own still counts)."""
    found = []
    for name, module in model.named_modules():
        for kind in _HOOK_DICTS:
            label = f"{name or 'the model'} ({kind.strip('_').replace('_', ' ')[:-1]})"
            found += [label] * len(getattr(module, kind, None) or ())
    for name, param in model.named_parameters():
        found += [f"{name} (tensor hook)"] * len(getattr(param, "_backward_hooks", None) or ())
    return found


def _remove_hooks(model: torch.nn.Module) -> None:
    for module in model.modules():
        for kind in _HOOK_DICTS:
            hooks = getattr(module, kind, None)
            if hooks:
                hooks.clear()
        for attr in ("fwd_hooks", "bwd_hooks"):  # TransformerLens HookPoints keep their handles too
            if getattr(module, attr, None):
                setattr(module, attr, [])
    for param in model.parameters():
        if getattr(param, "_backward_hooks", None):
            param._backward_hooks.clear()


_GLOBAL_HOOK_DICTS = ("_global_forward_hooks", "_global_forward_pre_hooks", "_global_backward_hooks",
                      "_global_backward_pre_hooks")


def _global_hook_keys() -> dict[str, set[Any]]:
    from torch.nn.modules import module as module_module

    return {name: set(getattr(module_module, name, {})) for name in _GLOBAL_HOOK_DICTS}


def _remove_new_global_hooks(before: dict[str, set[Any]]) -> bool:
    """Remove global module hooks registered since ``before``; True if there were any."""
    from torch.nn.modules import module as module_module

    found = False
    for name, keys in before.items():
        hooks = getattr(module_module, name, {})
        for key in set(hooks) - keys:
            del hooks[key]
            found = True
    return found


def fresh_model(build: Callable[[], torch.nn.Module], *, train: bool = False) -> torch.nn.Module:
    """``build()`` ready for a learner: eval mode (or train), no gradients stored, no hooks added by anyone.

    A TransformerLens model keeps hooks of its own on some modules (the bridge wires them to work at all):
    ``reset_hooks()`` removes the ones users added and keeps those; any other module loses every hook.
    """
    model = build()
    if hasattr(model, "reset_hooks"):
        model.reset_hooks()
    else:
        _remove_hooks(model)
    model.train(train)
    model.zero_grad(set_to_none=True)
    return model


@contextlib.contextmanager
def isolated(model: torch.nn.Module, *, what: str = "the model", train: bool = False,
             allow_parameter_changes: bool = False) -> Iterator[torch.nn.Module]:
    """Hand learner code a deep copy of ``model``: eval mode (or train), no gradients, no hooks.

    The grader's own model is never touched. When the block ends normally, hooks left on the copy
    (or added globally) and, unless ``allow_parameter_changes``, changed parameters or buffers fail
    the check with a message that says so.
    """
    learner_copy = fresh_model(lambda: copy.deepcopy(model), train=train)
    before = {name: value.detach().clone() for name, value in learner_copy.state_dict().items()}
    own_hooks = Counter(_hooks_on(learner_copy))  # the model's own (a bridge keeps some): not the learner's
    global_hooks = _global_hook_keys()
    yield learner_copy
    left = sorted((Counter(_hooks_on(learner_copy)) - own_hooks).elements())
    left_global = _remove_new_global_hooks(global_hooks)
    if left or left_global:
        shown = ", ".join(left[:3]) + (f" and {len(left) - 3} more" if len(left) > 3 else "") if left else \
            "a global module hook"
        raise GradingFailure(
            f"Your code left hooks on {what} after it returned: {shown}. Remove every hook you add "
            "(keep the handle and call handle.remove(), or model.reset_hooks() in TransformerLens), "
            "or later code runs your hook too."
        )
    if not allow_parameter_changes:
        after = learner_copy.state_dict()
        changed = [name for name, value in before.items()
                   if name not in after or after[name].shape != value.shape or not torch.equal(after[name], value)]
        if changed:
            shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
            raise GradingFailure(
                f"Your code changed {what}'s weights ({shown}). This exercise only reads the model: "
                "work on new tensors instead of writing into parameters or buffers."
            )


@contextlib.contextmanager
def seeded(seed: int = 0) -> Iterator[None]:
    """Fix the torch, NumPy and random seeds inside the block; restore the previous RNG state after."""
    import numpy as np

    torch_state = torch.random.get_rng_state()
    np_state = np.random.get_state()
    py_state = random.getstate()
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)
    try:
        yield
    finally:
        torch.random.set_rng_state(torch_state)
        np.random.set_state(np_state)
        random.setstate(py_state)
