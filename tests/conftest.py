"""Shared test configuration: never touch the network."""
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


import pytest
import torch


@pytest.fixture(autouse=True)
def _restore_grad_mode():
    """A test that switches gradients off globally must not change the tests after it."""
    enabled = torch.is_grad_enabled()
    yield
    torch.set_grad_enabled(enabled)
