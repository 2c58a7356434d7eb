"""The benchmark harness (``make bench``): it runs on tiny settings, writes a well-formed results
file, degrades to a recorded reason instead of crashing, and refuses bad input without losing
anything. No timing is asserted here: times are what the benchmark measures, not what tests check."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from circuitlab.bench import report, results, runner, sections
from circuitlab.bench.measure import median, percentile
from circuitlab.grading.registry import exercises

ROOT = Path(__file__).resolve().parents[1]


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "circuitlab.bench", *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=900)


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------- end to end, tiny settings


@pytest.mark.slow
def test_quick_run_writes_well_formed_results_and_merges_a_second_run(tmp_path):
    out = tmp_path / "results.json"
    first = bench("--quick", "--chapters", "0", "--only", "checks,tms,install", "--threads", "1", "--out", str(out))
    assert first.returncode == 0, first.stdout + first.stderr
    written = read(out)
    assert results.validate(written) == []
    assert written["machine"]["threads"] == 1
    assert written["machine"]["load_average_at_start"] is not None
    chapter_0 = sorted(e.id for e in exercises().values() if e.chapter == 0)
    assert sorted(written["check_ms"]) == chapter_0
    for timing in written["check_ms"].values():
        assert set(timing) == {"median", "p95"} and 0 < timing["median"] <= timing["p95"]
    assert all(d["reference_passes"] for d in written["sections"]["checks"]["details"]["per_exercise"].values())
    # Sections left out say why, and their figures are null rather than missing.
    assert written["sections"]["tms"]["status"] == "skipped" and "--chapters" in written["sections"]["tms"]["reason"]
    assert written["sections"]["install"]["status"] == "skipped"
    assert written["sections"]["grok"]["status"] == "not_run"
    assert written["tms_sweep_seconds"] is None and written["install_seconds"] is None
    assert written["complete"] is False
    assert "check(), chapter 0" in first.stdout  # the table is printed

    second = bench("--quick", "--chapters", "5", "--only", "tms", "--out", str(out))
    assert second.returncode == 0, second.stdout + second.stderr
    merged = read(out)
    assert results.validate(merged) == []
    assert merged["sections"]["tms"]["status"] == "ok" and merged["tms_sweep_seconds"] > 0
    assert merged["check_ms"] == written["check_ms"]  # the first run's figures are kept


@pytest.mark.slow
def test_a_notebook_is_executed_in_a_fresh_kernel_with_its_peak_memory(tmp_path):
    notebook = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_code_cell("block = bytearray(64 * 2**20)  # 64 MB the kernel must be seen holding"),
        nbformat.v4.new_code_cell("print(len(block))"),
    ])
    path = tmp_path / "tiny.ipynb"
    nbformat.write(notebook, path)
    run = sections.execute_notebook(path, cell_timeout=300)
    assert run.error is None
    assert run.peak_mb > 64
    assert len(run.cell_seconds) == 2

    notebook.cells.append(nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"))
    nbformat.write(notebook, path)
    failed = sections.execute_notebook(path, cell_timeout=300)
    assert failed.error is not None and "cell 2" in failed.error and "ValueError" in failed.error

    notebook.cells[2] = nbformat.v4.new_code_cell("import os\nos._exit(1)  # the kernel dies, with no message")
    nbformat.write(notebook, path)
    died = sections.execute_notebook(path, cell_timeout=300)
    assert died.error  # recorded as this notebook's failure, not raised out of the section


# --------------------------------------------------------------------------- degrading gracefully


def _settings(**changes) -> sections.Settings:
    return sections.Settings(threads=1, quick=True, root=ROOT, log=lambda line: None, **changes)


def test_a_section_that_raises_is_recorded_as_an_error_with_its_reason(monkeypatch):
    def broken(settings):
        raise RuntimeError("the chapter changed its API")

    monkeypatch.setitem(sections.SECTION_FUNCTIONS, "grok", broken)
    record, figures = runner.run_section("grok", _settings())
    assert record["status"] == "error"
    assert "RuntimeError: the chapter changed its API" in record["reason"]
    assert figures == {}
    assert record["details"]["traceback"]


def test_a_missing_chapter_module_is_unavailable_not_a_crash(monkeypatch):
    def needs_chapter_9(settings):
        sections.import_optional("circuitlab.ch9.training")

    monkeypatch.setitem(sections.SECTION_FUNCTIONS, "induction", needs_chapter_9)
    record, _ = runner.run_section("induction", _settings())
    assert record["status"] == "unavailable"
    assert "circuitlab.ch9.training is not in this checkout" in record["reason"]


def test_a_missing_function_is_named_in_the_reason():
    import circuitlab.ch0.reference as module

    with pytest.raises(sections.Unavailable, match=r"circuitlab\.ch0\.reference\.no_such_function does not exist"):
        sections.require(module, "no_such_function")


def test_chapter_functions_are_called_with_only_the_arguments_they_accept():
    def benchmark(threads, max_epochs=10):
        return threads, max_epochs

    assert sections.call_with_supported(benchmark, threads=2, max_epochs=3, progress=False) == (2, 3)


def test_a_stopped_section_leaves_what_it_measured_marked_unfinished(tmp_path):
    out = tmp_path / "results.json"
    partial = results.empty_results()
    partial["generated_at"] = "2026-01-01T00:00:00Z"
    write_partial = runner._partial_writer(partial, "checks", _settings(), out)
    write_partial({"check_ms": {"ch0.split_heads": {"median": 5.0, "p95": 6.0}}}, {"per_exercise": {}},
                  "stopped after 1 of 7 exercises")
    written = read(out)
    assert results.validate(written) == []
    assert written["check_ms"] == {"ch0.split_heads": {"median": 5.0, "p95": 6.0}}
    assert written["sections"]["checks"]["status"] == "error"
    assert "stopped after 1 of 7 exercises" in written["sections"]["checks"]["reason"]


def test_quick_mode_skips_the_install_with_a_reason():
    record, figures = runner.run_section("install", _settings())
    assert record["status"] == "skipped" and "quick" in record["reason"]
    assert figures == {}


# --------------------------------------------------------------------------- bad input loses nothing


def bench_here(capsys, *args: str) -> tuple[int, str]:
    """Run the benchmark's command line in this process (bad input is refused before anything is measured)."""
    from circuitlab.bench import main

    code = main(list(args))
    return code, capsys.readouterr().err


def test_unknown_section_is_refused_with_the_valid_names(tmp_path, capsys):
    code, err = bench_here(capsys, "--only", "grok,speed", "--out", str(tmp_path / "r.json"))
    assert code == 2
    assert "Unknown section 'speed'" in err and "notebooks" in err
    assert not (tmp_path / "r.json").exists()


@pytest.mark.parametrize("option", [["--threads", "0"], ["--chapters", "two"], ["--repeats", "0"],
                                    ["--class-size", "0"]])
def test_bad_numbers_are_refused(tmp_path, capsys, option):
    code, err = bench_here(capsys, *option, "--out", str(tmp_path / "r.json"))
    assert code == 2 and "circuitlab bench:" in err
    assert not (tmp_path / "r.json").exists()


def test_an_unreadable_results_file_is_left_untouched(tmp_path, capsys):
    out = tmp_path / "results.json"
    out.write_text("{ half a file", encoding="utf-8")
    code, err = bench_here(capsys, "--quick", "--only", "install", "--out", str(out))
    assert code == 2 and "left untouched" in err
    assert out.read_text(encoding="utf-8") == "{ half a file"


def test_a_directory_is_not_a_results_file(tmp_path, capsys):
    code, err = bench_here(capsys, "--out", str(tmp_path))
    assert code == 2 and "is a directory" in err


def test_report_only_needs_an_existing_file(tmp_path, capsys):
    code, err = bench_here(capsys, "--report-only", "--out", str(tmp_path / "none.json"))
    assert code == 2 and "run the benchmark first" in err


# --------------------------------------------------------------------------- the results file


def _filled_results() -> dict:
    filled = results.empty_results()
    filled.update(generated_at="2026-01-01T00:00:00Z", machine={"cpu": "test", "threads": 2, "cores_available": 2,
                                                                "load_average_at_start": [3.0, 2.0, 1.0]})
    for name in results.SECTIONS:
        filled["sections"][name].update(status="ok", reason=None, seconds=1.0)
    filled.update(notebook_seconds={"00_tools": 12.5}, notebook_peak_mb={"00_tools": 400.0},
                  check_ms={"ch0.split_heads": {"median": 80.0, "p95": 95.0}},
                  grok={"seconds_to_99pct_test": 20.0, "epochs_to_99pct_test": 400, "fast_ms_per_epoch": 30.0,
                        "paper_ms_per_epoch": 90.0, "speedup": 3.0},
                  induction={"seconds": 30.0, "steps": 200, "induction_score_seconds": None,
                             "induction_score_steps": None},
                  tms_sweep_seconds=4.0, sae_seconds=6.0, autograde_seconds_per_notebook={"00_tools": 9.0},
                  class_of_30_seconds={"00_tools": 150.0}, install_seconds=300.0, threads=THREADS_FIGURE)
    filled["complete"] = True
    return filled


THREADS_FIGURE = {
    "grok_seconds": {"quiet": {"1 thread": 25.0, "2 threads": 16.0, "policy": 16.2},
                     "one core busy": {"1 thread": 30.0, "2 threads": 70.0, "policy": 30.5}},
    "notebook_seconds": {"quiet": {"1 thread": 40.0, "policy": 30.0}, "one core busy": {"1 thread": 45.0, "policy": 46.0}},
    "policy_over_one_thread": {"grok": {"quiet": 0.65, "one core busy": 1.02}},
    "policy_threads": {"quiet": 2, "one core busy": 1},
}


def test_a_filled_results_file_validates():
    assert results.validate(_filled_results()) == []


@pytest.mark.parametrize("damage, expected", [
    (lambda r: r.pop("grok"), "'grok' is missing"),
    (lambda r: r.update(tms_sweep_seconds="fast"), "tms_sweep_seconds"),
    (lambda r: r["sections"]["sae"].update(status="error", reason=None), "gives no reason"),
    (lambda r: r["sections"]["sae"].update(status="maybe", reason="x"), "not one of"),
    (lambda r: r.update(schema=99), "schema"),
    (lambda r: r["sections"].pop("install"), "sections must name"),
    (lambda r: r.update(notebook_seconds={"00_tools": float("nan")}), "notebook_seconds.00_tools"),
])
def test_malformed_results_are_reported(damage, expected):
    broken = _filled_results()
    damage(broken)
    problems = results.validate(broken)
    assert any(expected in problem for problem in problems), problems


def test_complete_must_match_the_statuses():
    broken = _filled_results()
    broken["sections"]["install"].update(status="unavailable", reason="no make")
    assert any("complete" in p for p in results.validate(broken))


def test_committed_results_file_is_well_formed():
    committed = ROOT / "bench" / "results.json"
    if not committed.exists():
        pytest.skip("no benchmark has been committed yet")
    assert results.validate(read(committed)) == []


def test_percentiles_interpolate_between_runs():
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([1.0, 2.0, 3.0, 4.0]) == 2.5
    assert percentile([10.0, 20.0], 0.95) == pytest.approx(19.5)
    assert percentile([5.0], 0.95) == 5.0


# --------------------------------------------------------------------------- the README section


def test_table_shows_every_figure_and_the_machine():
    text = report.markdown(_filled_results())
    for expected in ("Load average (1 min) during the run: 3", "12.5 s, peak 400 MB", "80 ms", "400 epochs",
                     "3.0× faster", "200 steps", "4.00 s", "6.00 s", "9.00 s", "2.5 min", "5.0 min"):
        assert expected in text, expected


def test_a_null_figure_shows_its_reason_in_the_table():
    partial = _filled_results()
    partial["install_seconds"] = None
    partial["sections"]["install"].update(status="error", reason="`make install` failed (exit 2)")
    partial["complete"] = False
    rows = {name: (value, note) for name, value, note in report.table_rows(partial)}
    assert rows["fresh `make install`"] == ("—", "error: `make install` failed (exit 2)")


def test_a_class_time_estimated_from_a_smaller_class_is_labelled_as_such():
    estimated = _filled_results()
    estimated["class_of_30_seconds"] = None
    estimated["sections"]["autograde"].update(reason="a class of 4 was graded", details={
        "class_size": 4, "class_workers": 2, "smaller_class_seconds": 300.0,
        "class_of_30_estimate_seconds": {"00_tools": 2250.0}})
    rows = {name: (value, note) for name, value, note in report.table_rows(estimated)}
    value, note = rows["autograde a class of 30, chapter 0 (2 workers)"]
    assert value == "≈ 37.5 min" and note.startswith("estimated: a class of 4 took 5.0 min")


def test_readme_section_is_replaced_between_the_markers_only(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nintro\n\n{report.START_MARKER}\nold table\n{report.END_MARKER}\n\nafter\n")
    report.update_readme(readme, "new table")
    assert readme.read_text() == f"# Title\n\nintro\n\n{report.START_MARKER}\nnew table\n{report.END_MARKER}\n\nafter\n"


def test_readme_without_markers_gets_them_at_the_end(tmp_path):
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\nintro\n")
    report.update_readme(readme, "the table")
    text = readme.read_text()
    assert text.startswith("# Title\n\nintro\n")
    assert text.endswith(f"{report.START_MARKER}\nthe table\n{report.END_MARKER}\n")


@pytest.mark.parametrize("broken", [
    f"{report.START_MARKER}\nno end\n",
    f"{report.END_MARKER}\n{report.START_MARKER}\n",
    f"{report.START_MARKER}\n{report.END_MARKER}\n{report.START_MARKER}\n{report.END_MARKER}\n",
])
def test_readme_with_broken_markers_is_left_alone(tmp_path, broken):
    readme = tmp_path / "README.md"
    readme.write_text(broken)
    with pytest.raises(report.ReadmeProblem):
        report.update_readme(readme, "the table")
    assert readme.read_text() == broken


# --------------------------------------------------------------------------- the thread policy section


def test_thread_rows_show_every_configuration_side_by_side():
    filled = _filled_results()
    rows = {name: (value, note) for name, value, note in report.table_rows(filled)}
    value, note = rows["threads: grokking (`--bench`), one core busy"]
    assert value == "1 thread 30.0 s, 2 threads 70.0 s, policy 30.5 s"
    assert "policy chose 1 thread(s)" in note and "policy / 1 thread = 1.02" in note


def test_an_older_results_file_gains_the_new_section_as_not_run(tmp_path):
    old = _filled_results()
    old["sections"].pop("threads")
    old.pop("threads")
    path = tmp_path / "results.json"
    path.write_text(json.dumps(old), encoding="utf-8")
    loaded = results.load_for_merge(path)
    assert loaded["sections"]["threads"]["status"] == "not_run" and loaded["threads"] is None
    assert results.validate(loaded) == []


def test_thread_environment_pins_or_frees_the_pools_and_puts_them_back(monkeypatch):
    import os

    from circuitlab.bench.contention import thread_environment

    monkeypatch.setenv("OMP_NUM_THREADS", "7")
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    with thread_environment(2, None):
        assert os.environ["OMP_NUM_THREADS"] == "2" and os.environ["CIRCUITLAB_THREADS"] == "2"
        assert "OMP_WAIT_POLICY" not in os.environ
    with thread_environment(None, "PASSIVE"):
        assert "OMP_NUM_THREADS" not in os.environ and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    assert os.environ["OMP_NUM_THREADS"] == "7" and "OMP_WAIT_POLICY" not in os.environ


def test_policy_over_one_thread_ratio():
    from circuitlab.bench.contention import _ratios

    assert _ratios({"quiet": {"1 thread": 20.0, "policy": 10.0}, "busy": {"1 thread": None, "policy": 3.0}}) == \
        {"quiet": 0.5, "busy": None}
