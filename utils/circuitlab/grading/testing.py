"""Helpers for writing graders: every kind of bad learner input becomes a clear failure.

A grader is a pytest module (``circuitlab/chN/graders/test_name.py``) whose tests call
``submitted()`` for the learner's object and check it with the helpers below. See
``docs/authoring.md``.
"""
from __future__ import annotations

import contextlib
import ctypes
import linecache
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


def expect_tensor(value: Any, shape: Sequence[int | None] | None = None, dtype: Any = None,
                  what: str = "your output") -> torch.Tensor:
    """Check that ``value`` is a tensor of the given shape (None = any size) and dtype, without NaN."""
    if not isinstance(value, torch.Tensor):
        extra = " (did you forget a return statement?)" if value is None else ""
        raise GradingFailure(f"{what} should be a torch.Tensor, but it is {type(value).__name__}{extra}.")
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
        raise GradingFailure(f"{what} has dtype {value.dtype}; expected {dtype}.")
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
                 hint: str | None = None) -> None:
    """Check ``actual`` against ``expected``; if it matches a known mistake, name that mistake."""
    expected = torch.as_tensor(expected).detach()
    if isinstance(actual, torch.Tensor):
        actual = actual.detach()
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
    if hint:
        message += f" {hint}"
    raise GradingFailure(message)


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
