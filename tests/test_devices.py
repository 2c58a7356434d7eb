"""Devices: chosen once in setup(), and graders hand learner code its inputs on that device.

This machine has no GPU, so CUDA and MPS are simulated: device selection by monkeypatching the
availability checks, and the move to the learner's device with PyTorch's "meta" device (a real
non-CPU device that exists everywhere). Tests that need a real GPU run only where there is one.
"""
from __future__ import annotations

import pytest
import torch
from einops import rearrange

from circuitlab import environment
from circuitlab.environment import choose_device, pick_device, setup, to_device
from circuitlab.grading.engine import run_check
from circuitlab.grading.testing import _on_learner_device, grading_device


@pytest.fixture(autouse=True)
def restore_device(monkeypatch):
    """Every test leaves the notebook-wide device as it found it."""
    monkeypatch.setattr(environment, "_DEVICE", "cpu")
    monkeypatch.delenv("CIRCUITLAB_DEVICE", raising=False)


def _machine(monkeypatch, cuda: bool = False, mps: bool = False, gpus: int = 0) -> None:
    monkeypatch.setattr(environment, "cuda_available", lambda: cuda)
    monkeypatch.setattr(environment, "mps_available", lambda: mps)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)


def test_cpu_when_there_is_no_accelerator(monkeypatch):
    _machine(monkeypatch)
    assert choose_device() == ("cpu", "")


def test_cuda_is_preferred_when_present(monkeypatch):
    _machine(monkeypatch, cuda=True, mps=True, gpus=1)
    assert pick_device() == "cuda"


def test_mps_when_there_is_no_cuda(monkeypatch):
    _machine(monkeypatch, mps=True)
    assert pick_device() == "mps"


def test_an_explicit_choice_wins(monkeypatch):
    _machine(monkeypatch, cuda=True, gpus=2)
    assert choose_device("cpu") == ("cpu", "")
    assert choose_device("CUDA:1") == ("cuda:1", "")


def test_an_unavailable_choice_falls_back_to_cpu_and_says_why(monkeypatch):
    _machine(monkeypatch, cuda=True, gpus=1)
    device, note = choose_device("cuda:3")
    assert device == "cpu" and "cuda:3" in note and "1 GPU" in note
    _machine(monkeypatch)
    device, note = choose_device("mps")
    assert device == "cpu" and "not available" in note


@pytest.mark.parametrize("typo", ["gpu", "cuda:x", "mps:0", "tpu"])
def test_a_name_that_is_no_device_is_refused_clearly(typo):
    with pytest.raises(ValueError, match="Unknown device"):
        choose_device(typo)


def test_setup_chooses_once_and_says_so_in_one_line(monkeypatch, capsys):
    _machine(monkeypatch, cuda=True, gpus=1)
    monkeypatch.setenv("CIRCUITLAB_DEVICE", "cpu")  # the environment variable overrides auto-detection
    env = setup(check_network=False)
    assert env.device == "cpu" and environment.current_device() == "cpu"
    assert grading_device() == torch.device("cpu")
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 1 and "device cpu" in lines[0]


def test_setup_reports_a_fallback(monkeypatch, capsys):
    _machine(monkeypatch)
    env = setup(device="cuda", check_network=False)
    assert env.device == "cpu"
    assert "cuda was asked for but is not available here" in capsys.readouterr().out


def test_setup_chosen_device_is_the_grading_device(monkeypatch):
    _machine(monkeypatch, cuda=True, gpus=1)
    setup(check_network=False, quiet=True)
    assert grading_device() == torch.device("cuda")


def test_to_device_copies_tensors_and_keeps_structure():
    x, y = torch.ones(2), torch.zeros(3)
    moved = to_device({"pair": (x, [y, 7]), "name": "n"}, "meta")
    assert moved["pair"][0].device.type == "meta" and moved["pair"][1][0].device.type == "meta"
    assert moved["pair"][1][1] == 7 and moved["name"] == "n"
    assert x.device.type == "cpu", "the grader's own tensors are copied, not moved"


def test_graders_leave_cpu_inputs_untouched_on_the_cpu():
    x = torch.ones(2)
    args, kwargs, fn = _on_learner_device((x,), {"k": x}, len)
    assert args[0] is x and kwargs["k"] is x and fn is len


def test_graders_hand_inputs_on_the_learners_device(monkeypatch):
    monkeypatch.setattr(environment, "_DEVICE", "meta")
    learner_module = torch.nn.Linear(2, 2)
    args, kwargs, fn = _on_learner_device((torch.ones(2), [torch.ones(1)]), {"mask": torch.ones(2)}, learner_module)
    assert args[0].device.type == "meta" and args[1][0].device.type == "meta" and kwargs["mask"].device.type == "meta"
    assert fn.weight.device.type == "meta"


def test_inputs_stay_with_a_model_the_grader_passes(monkeypatch):
    """A grader's model (shared with the reference) stays put, and so do the tokens that go with it."""
    monkeypatch.setattr(environment, "_DEVICE", "meta")
    shared_model, tokens = torch.nn.Linear(2, 2), torch.ones(2)
    args, kwargs, _ = _on_learner_device((shared_model, tokens), {"mask": torch.ones(2)}, len)
    assert args[0] is shared_model and shared_model.weight.device.type == "cpu"
    assert args[1] is tokens and kwargs["mask"].device.type == "cpu"


def test_a_check_runs_learner_code_on_the_chosen_device(monkeypatch):
    """End to end through a real grader: the learner's function receives tensors on its device."""
    monkeypatch.setattr(environment, "_DEVICE", "meta")
    seen: set[str] = set()

    def split_heads(x, n_heads):
        seen.add(x.device.type)
        return rearrange(x, "b p (h d) -> b p h d", h=n_heads)

    run_check("ch0.split_heads", split_heads, record=False)  # meta tensors hold no values: only the device matters
    assert seen == {"meta"}


def test_inputs_the_device_cannot_hold_fail_with_a_reason(monkeypatch):
    """MPS, for one, holds no float64 tensors: the learner is told why, and what to do."""
    monkeypatch.setattr(environment, "_DEVICE", "meta")

    def refuse(*args, **kwargs):
        raise TypeError("Cannot convert a MPS Tensor to float64 dtype as the MPS framework doesn't support float64.")

    monkeypatch.setattr(environment, "to_device", refuse)
    result = run_check("ch0.split_heads", lambda x, n_heads: x, record=False)
    assert not result.passed
    report = result.report()
    assert "cannot be put on your device (meta)" in report and "float64" in report and "setup(device='cpu')" in report


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this machine")
def test_a_check_passes_on_cuda():
    setup(device="cuda", check_network=False, quiet=True)

    def split_heads(x, n_heads):
        assert x.is_cuda
        return rearrange(x, "b p (h d) -> b p h d", h=n_heads)

    assert run_check("ch0.split_heads", split_heads, record=False).passed


@pytest.mark.skipif(not environment.mps_available(), reason="no Apple MPS device on this machine")
def test_a_check_passes_on_mps():
    setup(device="mps", check_network=False, quiet=True)

    def split_heads(x, n_heads):
        assert x.device.type == "mps"
        return rearrange(x, "b p (h d) -> b p h d", h=n_heads)

    assert run_check("ch0.split_heads", split_heads, record=False).passed
