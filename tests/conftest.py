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


# The modules that take minutes (measured with --durations), slowest first. `make test` hands work to
# the workers in collection order (--no-loadscope-reorder), so these start at once, one per free worker,
# and the many short tests fill in around them; started last, one of them alone would be the run's tail.
SLOW_FIRST = ("test_ch3_any_model", "test_nbgrader_class", "test_notebooks", "test_autograde_chapters", "test_cli")


def _module_name(item) -> str:
    return item.module.__name__.rpartition(".")[2] if getattr(item, "module", None) else ""


# tryfirst: pytest-xdist's worker appends each test's group to its node id in its own
# pytest_collection_modifyitems, and it must see the markers added here.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        if _module_name(item) in SHARED_FIXTURE_MODULES:
            item.add_marker(pytest.mark.xdist_group(name=_module_name(item)))
    rank = {module: index for index, module in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(_module_name(item), len(SLOW_FIRST)))  # stable: the rest keep their order


def pytest_xdist_node_collection_finished(node, ids):
    """Under --dist loadgroup, every test of a module above must carry its group in its node id.

    That suffix is all the scheduler groups by. Where a pytest release stores node ids where
    pytest-xdist cannot change them (pytest 9.2 with pytest-xdist 3.8), grouping stops without a
    word and each of those module fixtures is built once per worker: stop, and say why."""
    if node.config.getvalue("dist") != "loadgroup":
        return
    lost = [nodeid for nodeid in ids if "@" not in nodeid
            and nodeid.split("::")[0].rpartition("/")[2].removesuffix(".py") in SHARED_FIXTURE_MODULES]
    if lost:
        pytest.exit(f"pytest-xdist did not group {len(lost)} tests (e.g. {lost[0]}), so --dist loadgroup would build "
                    "their module fixtures on every worker. Install the pinned versions: "
                    "pip install -c constraints.txt -e '.[dev]'", returncode=3)
