"""Shared test configuration: never touch the network."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Before torch loads, here and in every notebook kernel the tests start: OpenMP threads that
# have finished their share sleep instead of spinning on a core another test process needs
# (circuitlab.threads.child_environment; spelled out here because importing circuitlab loads torch).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


import pytest
import torch


@pytest.fixture(autouse=True)
def _restore_grad_mode():
    """A test that switches gradients off globally must not change the tests after it."""
    enabled = torch.is_grad_enabled()
    yield
    torch.set_grad_enabled(enabled)
