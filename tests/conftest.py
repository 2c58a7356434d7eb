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


# `make test` runs on two workers (pytest-xdist, --dist loadgroup). A module whose tests share an
# expensive module-scoped fixture (a graded class, a trained model) stays on one worker, so the
# fixture is built once; every other test goes wherever a worker is free.
SHARED_FIXTURE_MODULES = {
    "test_autograde_chapters", "test_browser", "test_ch1_model", "test_ch2_shipped_model", "test_ch3_gpt2_path",
    "test_ch3_model", "test_ch3_shortcut_free_model", "test_ch4_shipped", "test_ch4_training", "test_colab_setup",
    "test_ioi_corpus", "test_models", "test_nbgrader_class", "test_tl_api",
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        module = item.module.__name__.rpartition(".")[2] if getattr(item, "module", None) else ""
        if module in SHARED_FIXTURE_MODULES:
            item.add_marker(pytest.mark.xdist_group(name=module))
