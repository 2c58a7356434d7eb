"""The thread policy: explicit settings win, busy cores are not counted, child processes are told how to wait."""
from __future__ import annotations

import subprocess
import sys
import time

import pytest
import torch

from circuitlab import threads
from circuitlab.environment import setup


def test_an_explicit_count_wins_over_the_environment_and_the_machine():
    choice = threads.choose_threads(3, environ={"CIRCUITLAB_THREADS": "1", "OMP_NUM_THREADS": "2"})
    assert (choice.threads, choice.reason) == (3, "asked for with threads=3")


def test_circuitlab_threads_comes_before_omp_num_threads():
    assert threads.choose_threads(environ={"CIRCUITLAB_THREADS": "1", "OMP_NUM_THREADS": "4"}).threads == 1
    choice = threads.choose_threads(environ={"OMP_NUM_THREADS": "4"})
    assert (choice.threads, choice.reason) == (4, "set by OMP_NUM_THREADS=4")


def test_a_setting_that_is_no_count_is_ignored():
    choice = threads.choose_threads(environ={"CIRCUITLAB_THREADS": "many"}, sample_seconds=0.01)
    assert 1 <= choice.threads <= threads.usable_cores()
    assert "CIRCUITLAB_THREADS" not in choice.reason


def test_zero_threads_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        threads.choose_threads(0)


@pytest.mark.parametrize("cores, busy, expected", [
    (2, 0.0, 2), (2, 0.1, 2), (2, 0.3, 1), (2, 1.0, 1), (2, 2.0, 1), (4, 1.0, 3), (4, 3.9, 1), (1, 0.0, 1),
])
def test_one_thread_per_free_core_and_never_none(cores, busy, expected):
    assert threads.threads_for(cores, busy) == expected


def test_the_measured_load_decides_when_nothing_is_set(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda sample_seconds: 1.0)
    choice = threads.choose_threads(environ={})
    assert choice.threads == 1 and "1.0 of 2 cores busy" in choice.reason
    monkeypatch.setattr(threads, "busy_elsewhere", lambda sample_seconds: 0.0)
    assert threads.choose_threads(environ={}) == threads.ThreadChoice(2, "2 of 2 cores free", 2, 0.0)


def test_without_proc_stat_the_load_average_stands_in(monkeypatch):
    monkeypatch.setattr(threads, "usable_cores", lambda: 2)
    monkeypatch.setattr(threads, "busy_elsewhere", lambda sample_seconds: None)
    monkeypatch.setattr(threads, "_load_average", lambda: 1.6)
    choice = threads.choose_threads(environ={})
    assert choice.threads == 1 and "load average" in choice.reason


def test_cpu_times_read_busy_and_total_ticks(tmp_path):
    stat = tmp_path / "stat"
    stat.write_text("cpu  9 9 9 9 9 9 9 9 0 0\ncpu0 10 0 5 80 5 0 0 0 0 0\ncpu1 1 1 1 1 1 1 1 1 0 0\nintr 5\n")
    assert threads._cpu_times({0}, stat) == {0: (15, 100)}


def test_cgroup_quota_in_whole_cores(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert threads._cgroup_quota_cores(tmp_path) == 2
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert threads._cgroup_quota_cores(tmp_path) is None
    assert threads._cgroup_quota_cores(tmp_path / "absent") is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/stat is Linux's")
def test_a_competing_process_is_seen_as_busy():
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # let it start spinning
        busy = threads.busy_elsewhere(0.3)
    finally:
        spinner.kill()
        spinner.wait()
    assert busy is not None and busy >= 0.6  # other load on the machine only adds to it


def test_using_restores_the_callers_count():
    before = torch.get_num_threads()
    with threads.using(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with threads.using(None):
        assert torch.get_num_threads() == before


@pytest.mark.parametrize("workers, cores, expected", [(1, 2, 2), (2, 2, 1), (3, 2, 1), (2, 8, 4), (0, 2, 2)])
def test_workers_share_the_cores(workers, cores, expected):
    assert threads.per_worker(workers, cores) == expected


def test_children_sleep_between_parallel_regions_unless_told_otherwise():
    assert threads.child_environment(environ={}) == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert threads.child_environment(environ={"OMP_WAIT_POLICY": "ACTIVE"})["OMP_WAIT_POLICY"] == "ACTIVE"
    pinned = threads.child_environment(2, environ={})
    assert all(pinned[name] == "2" for name in threads.POOL_VARIABLES)


def test_threads_option():
    assert threads.argument("auto") is None and threads.argument("3") == 3
    with pytest.raises(ValueError):
        threads.argument("0")


def test_setup_says_how_many_threads_and_why(monkeypatch, capsys):
    monkeypatch.setenv("CIRCUITLAB_THREADS", "1")
    with threads.using(None):  # setup changes the process-wide count: put it back
        env = setup(check_network=False)
        assert env.threads == 1 and torch.get_num_threads() == 1
    assert "1 thread (set by CIRCUITLAB_THREADS=1)" in capsys.readouterr().out


def test_a_chapter_caps_threads_unless_the_user_fixed_them(monkeypatch, capsys):
    monkeypatch.setattr(threads, "_applied", None)
    with threads.using(2):
        assert threads.at_most(1, "small matrices", environ={}) == 1
        assert "Threads: 1, because small matrices" in capsys.readouterr().out
    with threads.using(2):
        assert threads.at_most(1, "small matrices", environ={"CIRCUITLAB_THREADS": "2"}) == 2
        assert "keeping the 2 you asked for" in capsys.readouterr().out
    monkeypatch.setattr(threads, "_applied", threads.ThreadChoice(2, "asked for with threads=2", 2, explicit=True))
    with threads.using(2):
        assert threads.at_most(1, "small matrices", environ={}) == 2
