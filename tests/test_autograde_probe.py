"""The sealability probe's decisions, and the channel pieces it relies on, without starting kernels."""
from __future__ import annotations

import base64
import json
import random

import numpy as np
import pytest
import torch

from circuitlab.course import probe
from circuitlab.course.bridge import KERNEL_SIDE, WireError, encode, random_state
from circuitlab.course.sealed import (
    BY_HAND, CRASHED, GRADED, IN_KERNEL, IN_KERNEL_NOTE, PROBE, SEALED, TIMED_OUT, check_from_data, failure_summary,
    kernel_package,
)
from circuitlab.grading import engine

EXERCISES = {"ch9.sealed_one": 2.0, "ch9.needs_kernel": 1.0, "ch9.broken": 3.0, "ch9.crashes": 1.0}


def _probe_event() -> dict:
    return {"event": "done", "exercises": {
        "ch9.sealed_one": {"status": GRADED, "score": 2.0, "mode": SEALED, "probe": "", "detail": ""},
        "ch9.needs_kernel": {"status": GRADED, "score": 1.0, "mode": IN_KERNEL,
                             "probe": "5 of 5 checks failed: Your class should build an nn.Module"},
        "ch9.broken": {"status": GRADED, "score": 0.0, "mode": IN_KERNEL, "probe": "it did not pass",
                       "detail": "1 of 4 checks failed: off by one"},
        "ch9.crashes": {"status": CRASHED, "score": None, "mode": IN_KERNEL, "probe": TIMED_OUT, "detail": "died"},
    }}


def test_full_marks_sealed_means_sealed_in_kernel_means_in_kernel_and_neither_means_by_hand():
    decided = probe.decide(EXERCISES, _probe_event())
    assert {name: s.mode for name, s in decided.items()} == {
        "ch9.sealed_one": SEALED, "ch9.needs_kernel": IN_KERNEL, "ch9.broken": BY_HAND, "ch9.crashes": BY_HAND}
    assert "nn.Module" in decided["ch9.needs_kernel"].why
    assert "off by one" in decided["ch9.broken"].why and "died" in decided["ch9.crashes"].why


def test_a_sealed_score_below_full_marks_is_not_sealed():
    event = _probe_event()
    event["exercises"]["ch9.sealed_one"]["score"] = 1.0  # partial: the channel lost a check
    assert probe.decide(EXERCISES, event)["ch9.sealed_one"].mode == BY_HAND


@pytest.mark.parametrize("event", [None, {"event": "lost", "message": "the grading process stopped"},
                                   {"event": "done", "exercises": {}}])
def test_a_probe_that_did_not_finish_grades_nothing_sealed_and_zeroes_nobody(event):
    decided = probe.decide(EXERCISES, event)
    assert set(decided) == set(EXERCISES)
    assert all(s.mode == BY_HAND and s.why for s in decided.values())


def test_decisions_are_applied_to_grade_steps_only_and_reported():
    decided = probe.decide(EXERCISES, _probe_event())
    steps = [{"kind": "cell", "source": "x = 1"}, {"kind": "grade", "exercise": "ch9.needs_kernel"},
             {"kind": "grade", "exercise": "ch9.sealed_one"}]
    applied = probe.apply(steps, decided)
    assert applied[0] == steps[0] and "mode" not in steps[1]  # the plan itself is not changed
    assert [s.get("mode") for s in applied] == [None, IN_KERNEL, SEALED]
    assert probe.exercises_in_kernel({"09_x": decided}) == {"ch9.needs_kernel", "ch9.broken", "ch9.crashes"}
    text = "\n".join(probe.report_lines({"09_x": decided}))
    assert "sealed (1): ch9.sealed_one" in text
    assert "not sealed (1): ch9.needs_kernel" in text and "by hand" in text


def test_probe_steps_bind_each_reference_to_the_handed_in_name():
    release = {"cells": [
        {"cell_type": "code", "source": "def split_heads(x):\n    raise NotImplementedError\n",
         "metadata": {"nbgrader": {"solution": True, "grade": False, "grade_id": "ch0-split_heads"}}},
        {"cell_type": "code", "source": 'from circuitlab import grade\ngrade("ch0.split_heads", split_heads)\n',
         "metadata": {"nbgrader": {"solution": False, "grade": True, "grade_id": "ch0-split_heads-test",
                                   "points": 1}}},
    ]}
    binding, step = probe.probe_steps(release)
    assert binding["kind"] == "cell"
    assert "from circuitlab.ch0.reference import split_heads as split_heads" in binding["source"]
    assert step["kind"] == "grade" and step["mode"] == PROBE and step["handed_in"] == "split_heads"
    assert step["points"] == 1.0


def test_a_failed_check_says_why_in_one_line():
    check = engine.CheckResult("ch9.x", [engine.TestOutcome("shape", True), engine.TestOutcome("values", False, "Off by one.\nmore"),
                                  engine.TestOutcome("values [2]", False, "Off by one.\nmore")])
    assert failure_summary(check) == "2 of 3 checks failed: Off by one."
    assert failure_summary(engine.CheckResult("ch9.x", problem="You handed in None.")) == "You handed in None."


def test_a_check_result_from_the_kernel_is_read_strictly():
    check = check_from_data("ch9.x", {"problem": "", "tests": [["shape", True, "", False], ["values", False, "no", False]]})
    assert not check.passed and [t.passed for t in check.tests] == [True, False]
    assert check_from_data("ch9.x", {"problem": "", "tests": [["all", True, "", False]]}).passed
    for forged in ({"passed": True}, {"problem": "", "tests": [["all", 1, "", False]]},
                   {"problem": "", "tests": [["all", True, ""]]}, "passed", None):
        with pytest.raises(WireError):
            check_from_data("ch9.x", forged)


def _kernel_bridge():
    namespace: dict = {}
    exec(compile(KERNEL_SIDE.read_text(encoding="utf-8"), "<bridge>", "exec"), namespace)
    return namespace["_CircuitLabBridge"](namespace)


def _call(bridge, target: int, state: dict, args=()) -> dict:
    message = {"op": "call", "target": target, "args": [encode(a) for a in args], "kwargs": [], "random": state,
               "grad": True}
    return json.loads(base64.b64decode(bridge.request(base64.b64encode(json.dumps(message).encode()).decode())))


def test_the_graders_random_state_is_used_in_the_kernel_and_the_kernels_own_is_kept():
    bridge = _kernel_bridge()
    draw = lambda: [torch.randint(0, 1000, (3,)).tolist(), int(np.random.randint(1000)), random.random()]  # noqa: E731
    target = bridge.encode(draw)["id"]
    torch.manual_seed(7); np.random.seed(7); random.seed(7)
    expected = draw()
    torch.manual_seed(7); np.random.seed(7); random.seed(7)
    state = random_state()
    torch.manual_seed(123)  # the kernel's own stream, which grading must leave as it was
    before = torch.random.get_rng_state()
    reply = _call(bridge, target, state)
    assert "error" not in reply, reply
    assert bridge.decode(reply["value"]) == expected
    assert torch.equal(torch.random.get_rng_state(), before)


def test_two_calls_in_a_row_draw_differently_and_the_same_seed_draws_the_same():
    from circuitlab.course.bridge import RemoteObject

    class _Kernel:  # stands for the kernel: answers each request with the bridge run in-process
        def __init__(self):
            self.bridge = _kernel_bridge()

        def request(self, message, limit):
            text = self.bridge.request(base64.b64encode(json.dumps(message).encode()).decode())
            return json.loads(base64.b64decode(text))

    from circuitlab.course.bridge import Channel

    kernel = _Kernel()
    channel = Channel(kernel, 10)
    draw = RemoteObject(channel, kernel.bridge.encode(lambda: torch.rand(4).tolist())["id"], "function", True, "draw")
    torch.manual_seed(0)
    first, second = draw(), draw()
    torch.manual_seed(0)
    assert first != second and draw() == first


def test_a_check_run_in_the_kernel_comes_back_as_plain_data():
    bridge = _kernel_bridge()
    bridge.namespace["square"] = lambda x: x * x
    message = {"op": "grade", "exercise": "ch9.unknown", "expression": "square"}
    reply = json.loads(base64.b64decode(bridge.request(base64.b64encode(json.dumps(message).encode()).decode())))
    from circuitlab.course.bridge import decode

    check = check_from_data("ch9.unknown", decode(reply["value"], None))
    assert not check.passed and "no exercise" in check.problem


def test_kernel_package_copies_only_the_graders_checked_in_the_kernel(tmp_path):
    site = kernel_package(tmp_path, set(), {"ch2.repeated_tokens"})
    graders = site / "circuitlab" / "ch2" / "graders"
    assert (graders / "test_repeated_tokens.py").is_file() and not (graders / "test_repeated_tokens.py").is_symlink()
    assert (graders / "_detector_cases.py").is_file()
    assert not (graders / "test_logit_lens.py").exists()
    assert not (site / "circuitlab" / "ch1" / "graders").exists()
    assert (site / "circuitlab" / "ch2" / "reference.py").exists()  # its chapter's reference is kept
    assert IN_KERNEL_NOTE == "graded in the student's kernel (not sealed)"
