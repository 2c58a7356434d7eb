"""The grading engine: reports, bad input, grade() for nbgrader, hints, progress."""
from __future__ import annotations

import contextlib
import io
import warnings

import pytest
import torch

from circuitlab.grading import engine
from circuitlab.grading.engine import check, grade, hint, run_check
from circuitlab.grading.registry import exercises
from circuitlab.grading.testing import run_learner, GradingFailure
from circuitlab.ch0 import reference as ch0


def scores(q, k):
    return torch.einsum("bqhd,bkhd->bhqk", q, k) / q.shape[-1] ** 0.5


def test_correct_learner_code_passes():
    result = run_check("ch0.attention_scores", scores, record=False)
    assert result.passed and result.status == "passed"
    assert "✅" in result.report()


@pytest.mark.parametrize(
    "submission, expected",
    [
        (lambda q, k: q.no_such_method(), "raised AttributeError"),
        (lambda q, k: "scores", "should be a torch.Tensor, but it is str"),
        (lambda q, k: None, "did you forget a return statement"),
        (lambda q, k: torch.zeros(2, 2), "has shape"),
        (lambda q, k: scores(q, k) * float("nan"), "contains NaN"),
        (lambda q, k: scores(q.mul_(1.5), k), "modified its input in place"),
        (42, "Expected a function or class"),
    ],
    ids=["exception", "wrong-type", "no-return", "wrong-shape", "nan", "in-place", "not-callable"],
)
def test_bad_input_is_reported_not_raised(submission, expected):
    result = run_check("ch0.attention_scores", submission, record=False)
    assert not result.passed
    assert expected in result.report()


def test_learner_line_is_quoted():
    def broken(q, k):
        intermediate = q * 2
        return intermediate.transpose(7, 8)

    report = run_check("ch0.attention_scores", broken, record=False).report()
    assert "return intermediate.transpose(7, 8)" in report and "in broken()" in report


def test_runaway_loop_is_stopped():
    def forever(seq_len):
        while True:
            pass

    with pytest.raises(GradingFailure, match="was stopped"):
        run_learner(forever, 3, time_limit=0.5)


def test_exception_swallowing_loop_is_still_stopped():
    def stubborn(seq_len):
        while True:
            try:
                while True:
                    pass
            except Exception:  # a learner's broad except must not swallow the time limit
                pass

    with pytest.raises(GradingFailure, match="was stopped"):
        run_learner(stubborn, 3, time_limit=0.5)


def test_stub_counts_as_not_attempted():
    def stub(q, k):
        raise NotImplementedError()

    result = run_check("ch0.attention_scores", stub, record=False)
    assert result.status == "not_attempted" and "⏳" in result.report()


def test_reference_object_is_refused():
    result = run_check("ch0.attention_scores", ch0.attention_scores, record=False)
    assert not result.passed and "reference solution" in result.report()


def test_unknown_id_and_none():
    assert "no exercise" in run_check("ch0.no_such_thing", scores, record=False).report().lower()
    assert "did you mean" in run_check("ch9.attention_scores", scores, record=False).report().lower()
    assert "handed in None" in run_check("ch0.attention_scores", None, record=False).report()


def test_check_prints_and_returns_result(capsys):
    result = check("ch0.attention_scores", scores, record=False)
    assert "✅ ch0.attention_scores" in capsys.readouterr().out
    assert result.passed and repr(result) == "<CheckResult ch0.attention_scores: passed>"


def test_grade_writes_only_stdout_and_raises_on_failure():
    stdout, stderr = io.StringIO(), io.StringIO()

    def noisy_but_right(q, k):
        warnings.warn("a library warning", UserWarning)
        import sys
        print("debug print", file=sys.stderr)
        return scores(q, k)

    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        grade("ch0.attention_scores", noisy_but_right)
        with pytest.raises(AssertionError):
            grade("ch0.attention_scores", lambda q, k: torch.zeros(1))
    assert stderr.getvalue() == ""
    assert "✅" in stdout.getvalue() and "❌" in stdout.getvalue()


def test_hints_get_stronger_then_stop(capsys):
    engine._HINTS_SHOWN.pop("ch0.split_heads", None)
    n = len(exercises()["ch0.split_heads"].hints)
    for _ in range(n + 1):
        hint("ch0.split_heads")
    out = capsys.readouterr().out
    assert f"hint 1 of {n}" in out and f"hint {n} of {n}" in out and "last hint" in out


def test_session_progress(capsys):
    engine.SESSION_RESULTS.clear()
    check("ch0.attention_scores", scores)
    check("ch0.split_heads", lambda x, n: torch.zeros(1))
    from circuitlab.grading.progress import progress

    progress()
    out = capsys.readouterr().out
    assert "✅ ch0.attention_scores" in out and "❌ ch0.split_heads" in out and "⏳ ch0.loss_curve" in out
    engine.SESSION_RESULTS.clear()


def test_check_is_fast_enough_to_repeat():
    """A check has no per-call start-up cost beyond the first (timings themselves are benchmarked)."""
    first = run_check("ch0.split_heads", lambda x, n: x.view(*x.shape[:2], n, -1), record=False)
    second = run_check("ch0.split_heads", lambda x, n: x.view(*x.shape[:2], n, -1), record=False)
    assert first.passed and second.passed and len(first.tests) == len(second.tests)


def test_grading_has_gradients_even_if_the_notebook_turned_them_off():
    previous = torch.is_grad_enabled()
    torch.set_grad_enabled(False)
    try:
        result = run_check("ch0.attention_scores", scores, record=False)
        assert result.passed
        from circuitlab.grading.engine import _torch_grad_enabled

        with _torch_grad_enabled():
            assert torch.is_grad_enabled()
    finally:
        torch.set_grad_enabled(previous)


def test_isolated_reports_only_the_hooks_and_weight_changes_the_learner_made():
    from circuitlab.grading.testing import GradingFailure, isolated

    model = torch.nn.Sequential(torch.nn.Linear(3, 3))
    model[0].register_forward_hook(lambda module, args, out: out)  # the model's own, as a bridge keeps some
    model.reset_hooks = lambda: None  # a TransformerLens-style model: its own hooks survive the copy
    with isolated(model) as copy_:
        copy_(torch.ones(1, 3))  # reading it is fine
    with pytest.raises(GradingFailure, match="left hooks"):
        with isolated(model) as copy_:
            copy_[0].register_forward_hook(lambda module, args, out: out)
    with pytest.raises(GradingFailure, match="changed the model's weights"):
        with isolated(model) as copy_:
            with torch.no_grad():
                copy_[0].weight += 1
    assert len(model[0]._forward_hooks) == 1  # the grader's own model is never touched
