"""What the benchmark measures, one function per section.

Each section returns an ``Outcome`` (its figures, named as in ``results.FIGURES``, and details)
or raises ``Unavailable`` when what it measures is not in this checkout (a chapter not written
yet, a function renamed), or ``Skipped`` when the mode leaves it out. The runner turns any other
exception into an ``error`` record, so one broken section never stops the others.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Callable

from circuitlab.bench.measure import ChildrenPeakMemory, median, percentile, time_repeatedly
from circuitlab.threads import POOL_VARIABLES

# A notebook (or a training run) shorter than this is measured a few times and the median kept;
# a longer one once, since its run-to-run spread is small next to its length.
SHORT_RUN_SECONDS = 30.0
SHORT_RUN_REPEATS = 3
CLASS_SIZE = 30


class Unavailable(Exception):
    """What the section measures does not exist in this checkout; the message says what is missing."""


class Skipped(Exception):
    """The section is left out in this mode; the message says why."""


@dataclass
class Settings:
    threads: int
    auto_threads: bool = False  # the thread policy chose ``threads``; training runs choose again when they start
    quick: bool = False
    check_repeats: int = 10
    check_budget_seconds: float = 5.0  # per exercise, after the warm-up
    chapters: frozenset[int] | None = None  # None: every chapter
    root: Path | None = None  # the repository checkout, if there is one
    cell_timeout: int = 1800
    autograde_every_chapter: bool = False  # else one chapter (the first chosen) is graded, alone and as a class
    class_size: int = CLASS_SIZE  # a smaller class is quicker; the time for CLASS_SIZE is then estimated
    log: Callable[[str], None] = print
    # Called by long sections after each item with (figures so far, details so far, what is left):
    # the runner writes them to the results file, so a run stopped midway keeps what it measured.
    checkpoint: Callable[[dict[str, Any], dict[str, Any], str], None] = lambda figures, details, left: None


@dataclass
class Outcome:
    figures: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    status: str = "ok"
    reason: str | None = None  # for "ok", a note (a chapter missing, a threshold not reached)


# --------------------------------------------------------------------------- helpers


def import_optional(module_name: str) -> Any:
    """Import a chapter module, or raise ``Unavailable`` if it (not one of its dependencies) is absent."""
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        missing = exc.name or ""
        if module_name == missing or module_name.startswith(missing + "."):
            raise Unavailable(f"{module_name} is not in this checkout") from None
        raise


def require(module: Any, *names: str) -> list[Any]:
    """The named attributes of ``module``, or ``Unavailable`` naming the first that is missing."""
    found = []
    for name in names:
        if not hasattr(module, name):
            raise Unavailable(f"{module.__name__}.{name} does not exist")
        found.append(getattr(module, name))
    return found


def call_with_supported(function: Callable[..., Any], **kwargs: Any) -> Any:
    """Call ``function`` with those of ``kwargs`` its signature accepts (it is owned by a chapter and may change)."""
    parameters = inspect.signature(function).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return function(**kwargs)
    return function(**{name: value for name, value in kwargs.items() if name in parameters})


def replace_supported(settings: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` with only the fields the settings class has."""
    names = {f.name for f in dataclasses.fields(settings)}
    return dataclasses.replace(settings, **{k: v for k, v in changes.items() if k in names})


def jsonable(value: Any) -> Any:
    """A JSON-ready copy of ``value``: dataclasses, tuples, tensors and numbers made plain."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if isinstance(value, dict):
        return {str(key): jsonable(inner) for key, inner in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(inner) for inner in value]
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "tolist"):  # tensors and numpy arrays
        return jsonable(value.tolist())
    return str(value)


def rounded(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(float(value), digits)


def measure_adaptively(run: Callable[[], Any], quick: bool) -> tuple[float, list[float], Any]:
    """Run once; if that was short, twice more. Returns (median seconds, all runs, the last result)."""
    results: list[Any] = []
    timings = time_repeatedly(lambda: results.append(run()), repeats=1)
    if not quick and timings.seconds[0] < SHORT_RUN_SECONDS:
        timings.seconds += time_repeatedly(lambda: results.append(run()), repeats=SHORT_RUN_REPEATS - 1).seconds
    return timings.median, [round(s, 3) for s in timings.seconds], results[-1]


def chapter_selected(settings: Settings, number: int) -> bool:
    return settings.chapters is None or number in settings.chapters


def require_chapter(settings: Settings, number: int) -> None:
    if not chapter_selected(settings, number):
        raise Skipped(f"chapter {number} is not among the chapters chosen with --chapters")


def require_checkout(settings: Settings) -> Path:
    if settings.root is None:
        raise Unavailable("needs a repository checkout (the notebooks and the Makefile are not in the installed package)")
    return settings.root


# --------------------------------------------------------------------------- notebooks


@dataclass
class NotebookRun:
    seconds: float
    peak_mb: float
    error: str | None
    cell_seconds: list[tuple[int, float]]  # (code cell index, seconds), for the slowest cells


def _cell_seconds(cell: Any) -> float | None:
    timing = cell.get("metadata", {}).get("execution", {})
    try:
        started = datetime.fromisoformat(timing["iopub.execute_input"].replace("Z", "+00:00"))
        finished = datetime.fromisoformat(timing["shell.execute_reply"].replace("Z", "+00:00"))
    except (KeyError, ValueError, AttributeError):
        return None
    return (finished - started).total_seconds()


def _one_line(exc: BaseException) -> str:
    """``Name: last line of the message``; some exceptions (a kernel that died) carry no message at all."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[-1][:200]}" if lines else type(exc).__name__


def _first_error(notebook: Any) -> str | None:
    for index, cell in enumerate(notebook.cells):
        for output in cell.get("outputs", []):
            if output.get("output_type") == "error":
                return f"cell {index}: {output.get('ename')}: {str(output.get('evalue', ''))[:200]}"
    return None


def execute_notebook(path: Path, cell_timeout: int) -> NotebookRun:
    """Execute a copy of ``path`` top to bottom in a fresh kernel, in a scratch directory."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    with tempfile.TemporaryDirectory(prefix="circuitlab-bench-") as scratch, ChildrenPeakMemory() as memory:
        client = NotebookClient(
            notebook, timeout=cell_timeout, kernel_name="python3", record_timing=True,
            resources={"metadata": {"path": scratch}},
            # Sample after every cell too, while the kernel is alive: the last cell's memory counts.
            on_cell_executed=lambda **_: memory.sample_now(),
        )
        start = time.perf_counter()
        error = None
        try:
            client.execute()
        except Exception as exc:  # CellExecutionError, DeadKernelError, a timeout: all end this run
            error = _first_error(notebook) or _one_line(exc)
        seconds = time.perf_counter() - start
    cells = [(index, _cell_seconds(cell)) for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"]
    return NotebookRun(seconds, memory.peak_mb, error, [(i, s) for i, s in cells if s is not None])


def _chapter_number(slug: str) -> int | None:
    head = slug.split("_", 1)[0]
    return int(head) if head.isdigit() else None


def measure_notebooks(settings: Settings) -> Outcome:
    from circuitlab.grading.registry import chapters

    root = require_checkout(settings)
    paths = sorted((root / "solutions").glob("*.ipynb"))
    paths = [p for p in paths if _chapter_number(p.stem) is not None and chapter_selected(settings, _chapter_number(p.stem))]
    if settings.quick and settings.chapters is None:
        paths = paths[:1]  # the quick mode proves the harness on the first (smallest) chapter only
    if not paths:
        raise Unavailable("no solution notebooks (solutions/NN_slug.ipynb) for the chosen chapters")
    seconds: dict[str, float | None] = {}
    peaks: dict[str, float | None] = {}
    details: dict[str, Any] = {}
    failed: list[str] = []
    for path in paths:
        slug = path.stem
        runs = [execute_notebook(path, settings.cell_timeout)]
        if runs[0].error is None and runs[0].seconds < SHORT_RUN_SECONDS and not settings.quick:
            runs += [execute_notebook(path, settings.cell_timeout) for _ in range(SHORT_RUN_REPEATS - 1)]
        good = [run for run in runs if run.error is None]
        seconds[slug] = round(median([r.seconds for r in good]), 2) if good else None
        peaks[slug] = round(max(r.peak_mb for r in good), 1) if good else None
        slowest = sorted(runs[-1].cell_seconds, key=lambda pair: -pair[1])[:3]
        details[slug] = {
            "runs_seconds": [round(r.seconds, 2) for r in runs],
            "runs_peak_mb": [round(r.peak_mb, 1) for r in runs],
            "slowest_cells": [{"cell": i, "seconds": round(s, 2)} for i, s in slowest],
            "error": next((r.error for r in runs if r.error), None),
        }
        if details[slug]["error"]:
            failed.append(f"{slug} failed at {details[slug]['error']}")
        settings.log(f"  {slug}: {seconds[slug]} s, peak {peaks[slug]} MB"
                     + (f" (ERROR {details[slug]['error']})" if details[slug]["error"] else ""))
        settings.checkpoint({"notebook_seconds": seconds, "notebook_peak_mb": peaks}, {"per_notebook": details},
                            f"stopped after {len(details)} of {len(paths)} notebooks")
    missing: list[str] = []
    if not (settings.quick and settings.chapters is None):  # the quick mode leaves chapters out on purpose
        measured = {_chapter_number(p.stem) for p in paths}
        missing = [c.slug for c in chapters() if chapter_selected(settings, c.number) and c.number not in measured]
    notes = failed + ([f"no solution notebook yet for {', '.join(missing)}"] if missing else [])
    return Outcome(figures={"notebook_seconds": seconds, "notebook_peak_mb": peaks},
                   details={"per_notebook": details, "missing": missing, "cell_timeout": settings.cell_timeout},
                   status="error" if failed else "ok", reason="; ".join(notes) or None)


# --------------------------------------------------------------------------- checks


def measure_checks(settings: Settings) -> Outcome:
    from circuitlab.grading.engine import run_check
    from circuitlab.grading.registry import exercises

    chosen = [e for e in exercises().values() if chapter_selected(settings, e.chapter)]
    if settings.quick and settings.chapters is None:
        chosen = [e for e in chosen if e.chapter == min(x.chapter for x in chosen)]
    if not chosen:
        raise Unavailable("no exercises registered for the chosen chapters")
    repeats = 1 if settings.quick else settings.check_repeats
    check_ms: dict[str, dict[str, float] | None] = {}
    details: dict[str, Any] = {}
    problems: list[str] = []
    for exercise in chosen:
        try:
            reference = exercise.reference_object()

            def grade_reference() -> Any:
                return run_check(exercise.id, reference, allow_reference=True, record=False)

            start = time.perf_counter()
            warm_up = grade_reference()  # imports, model loading and caches: not what a learner waits for twice
            warm_up_ms = 1000 * (time.perf_counter() - start)
            timings = time_repeatedly(grade_reference, repeats, settings.check_budget_seconds, minimum=min(3, repeats))
        except Exception as exc:  # one broken grader must not hide the others' timings
            check_ms[exercise.id] = None
            details[exercise.id] = {"error": f"{type(exc).__name__}: {exc}"[:300]}
            problems.append(f"{exercise.id} raised {type(exc).__name__}")
            continue
        milliseconds = [1000 * s for s in timings.seconds]
        check_ms[exercise.id] = {"median": round(median(milliseconds), 1), "p95": round(percentile(milliseconds, 0.95), 1)}
        details[exercise.id] = {"runs": len(milliseconds), "warm_up_ms": round(warm_up_ms, 1),
                                "reference_passes": warm_up.passed}
        if not warm_up.passed:
            problems.append(f"the reference fails {exercise.id}")
        settings.checkpoint({"check_ms": check_ms}, {"per_exercise": details},
                            f"stopped after {len(check_ms)} of {len(chosen)} exercises")
    settings.log(f"  {len(chosen)} exercises timed")
    return Outcome(figures={"check_ms": check_ms},
                   details={"per_exercise": details, "repeats": repeats, "budget_seconds_per_exercise":
                            settings.check_budget_seconds, "call": "run_check(id, reference, allow_reference=True, record=False)"},
                   status="error" if any(v is None for v in check_ms.values()) else "ok",
                   reason="; ".join(problems) or None)


# --------------------------------------------------------------------------- chapter 4: grokking


def _training_seconds(history: Any, wall: float) -> float:
    """Seconds spent in the epochs themselves, without the two evaluations (at epoch 0 and at the end).

    ``history.seconds`` is the time since the start at each evaluation: its first entry is one
    evaluation, its last is every epoch plus two evaluations of the same cost.
    """
    seconds = list(getattr(history, "seconds", []) or [])
    if len(seconds) >= 2 and seconds[-1] - 2 * seconds[0] > 0:
        return seconds[-1] - 2 * seconds[0]
    return wall


def _epoch_costs_side_by_side(training: Any, settings: Settings) -> dict[str, Any]:
    """Milliseconds per epoch of the fast recipe's formulation and of the paper's, alternated in one process.

    Both train the same fresh model on the same data for the same number of epochs, with the
    evaluations' time taken out, so the ratio measures the formulations, not the moment each ran.
    """
    model_module = import_optional("circuitlab.ch4.model")
    data_module = import_optional("circuitlab.data.modular")
    train, fast, paper = require(training, "train", "FAST", "PAPER")
    (make_model,) = require(model_module, "make_grokking_model")
    (make_data,) = require(data_module, "modular_addition_data")
    data = make_data(113, 0.3, 0)
    epochs = 2 if settings.quick else 20
    rounds = 1 if settings.quick else 3
    per_epoch: dict[str, list[float]] = {"fast": [], "paper": []}
    for _ in range(rounds):
        for name, recipe in (("fast", fast), ("paper", paper)):
            model = make_model(seed=0)
            start = time.perf_counter()
            history = call_with_supported(train, model=model, data=data, n_epochs=epochs, recipe=recipe,
                                          eval_every=epochs, progress=False)
            wall = time.perf_counter() - start
            per_epoch[name].append(1000 * _training_seconds(history, wall) / epochs)
    fast_ms, paper_ms = median(per_epoch["fast"]), median(per_epoch["paper"])
    return {"fast_ms_per_epoch": round(fast_ms, 2), "paper_ms_per_epoch": round(paper_ms, 2),
            "speedup": round(paper_ms / fast_ms, 2), "epochs_per_timing": epochs, "rounds": rounds,
            "excludes": "the evaluations at the first and last epoch",
            "runs_ms_per_epoch": {k: [round(v, 2) for v in vs] for k, vs in per_epoch.items()}}


def measure_grok(settings: Settings) -> Outcome:
    require_chapter(settings, 4)
    training = import_optional("circuitlab.ch4.training")
    benchmark = next((getattr(training, name) for name in ("benchmark", "bench", "time_to_grok")
                      if callable(getattr(training, name, None))), None)
    if benchmark is None:
        raise Unavailable("circuitlab.ch4.training has no benchmark() function")
    limits = {"max_epochs": 3, "paper_epochs": 1} if settings.quick else {}
    start = time.perf_counter()
    raw = call_with_supported(benchmark, threads=None if settings.auto_threads else settings.threads,
                              progress=False, **limits)
    benchmark_seconds = time.perf_counter() - start
    fast = raw.get("fast_recipe", {}) if isinstance(raw, dict) else {}
    side_by_side = _epoch_costs_side_by_side(training, settings)
    figure = {
        "seconds_to_99pct_test": rounded(fast.get("seconds_to_99pct_test"), 2),
        "epochs_to_99pct_test": fast.get("epochs_to_99pct_test"),
        "fast_ms_per_epoch": side_by_side["fast_ms_per_epoch"],
        "paper_ms_per_epoch": side_by_side["paper_ms_per_epoch"],
        "speedup": side_by_side["speedup"],
    }
    reason = None
    if figure["seconds_to_99pct_test"] is None:
        reached = "within the quick mode's epoch limit" if settings.quick else "within the benchmark's epoch limit"
        reason = f"the fast recipe did not reach 99% test accuracy {reached}"
    settings.log(f"  {figure}")
    return Outcome(figures={"grok": figure}, reason=reason,
                   details={"benchmark": jsonable(raw), "benchmark_seconds": round(benchmark_seconds, 2),
                            "side_by_side": side_by_side, "source": f"{training.__name__}.{benchmark.__name__}"})


# --------------------------------------------------------------------------- chapter 2: induction heads


def measure_induction(settings: Settings) -> Outcome:
    """Train the chapter's two-layer attention-only model from scratch until induction heads form.

    "Formed" is the notebook's own criterion: the loss on the repeated half falls below half its
    initial value; the induction score reaching 0.5 is recorded beside it.
    """
    require_chapter(settings, 2)
    training = import_optional("circuitlab.ch2.training")
    recipe_class, train_from_scratch = require(training, "ScratchRecipe", "train_from_scratch")
    if settings.quick:
        recipe = replace_supported(recipe_class(), steps=4, eval_every=4)
    else:
        recipe = replace_supported(recipe_class(), eval_every=10, time_limit=900.0)
    start = time.perf_counter()
    _, history = call_with_supported(train_from_scratch, recipe=recipe, progress=False)
    total_seconds = time.perf_counter() - start
    initial = history.repeated_loss[0]
    formed = history.first_step("repeated_loss", lambda value: value < initial / 2)
    scored = history.first_step("induction_score", lambda value: value >= 0.5)
    figure = {
        "seconds": rounded(formed[1], 2) if formed else None,
        "steps": formed[0] if formed else None,
        "induction_score_seconds": rounded(scored[1], 2) if scored else None,
        "induction_score_steps": scored[0] if scored else None,
    }
    settings.log(f"  {figure}")
    return Outcome(
        figures={"induction": figure},
        reason=None if formed else f"induction heads did not form within {history.steps[-1]} steps",
        details={"recipe": jsonable(recipe), "criterion": "repeated-half loss below half its initial value",
                 "induction_score_threshold": 0.5,
                 "initial_repeated_loss": rounded(initial), "final_repeated_loss": rounded(history.repeated_loss[-1]),
                 "final_induction_score": rounded(history.induction_score[-1]), "steps_run": history.steps[-1],
                 "total_seconds": round(total_seconds, 2)})


# --------------------------------------------------------------------------- chapter 5: superposition, SAEs


def measure_tms(settings: Settings) -> Outcome:
    require_chapter(settings, 5)
    toy = import_optional("circuitlab.ch5.toy")
    settings_class, sweep = require(toy, "SweepSettings", "run_sparsity_sweep")
    sweep_settings = settings_class()
    if settings.quick:
        sweep_settings = replace_supported(sweep_settings, steps=10)
    seconds, runs, _ = measure_adaptively(lambda: call_with_supported(sweep, settings=sweep_settings, progress=False),
                                          settings.quick)
    settings.log(f"  sparsity sweep {seconds:.2f} s")
    return Outcome(figures={"tms_sweep_seconds": round(seconds, 2)},
                   details={"runs_seconds": runs, "settings": jsonable(sweep_settings),
                            "source": f"{toy.__name__}.{sweep.__name__}"})


def _sae_pipeline(toy: Any) -> tuple[Callable[[Any], Any], str]:
    """Train the toy models that feed the SAEs, then one SAE per toy model with resampling, as the chapter does."""
    reference = import_optional("circuitlab.ch5.reference")
    (train_sae,) = require(toy, "train_sae")
    (sae_class,) = require(reference, "ToySAE")
    if callable(getattr(toy, "sae_toy_model", None)):
        make_toy = toy.sae_toy_model
        source = "circuitlab.ch5.toy.sae_toy_model, then circuitlab.ch5.toy.train_sae (with resampling)"
    else:  # an older chapter package: the same two steps spelled out
        (hidden_activations,) = require(toy, "hidden_activations")
        toy_model, toy_config, train_toy, generate_batch = require(
            reference, "ToyModel", "ToyConfig", "train_toy_model", "generate_batch")
        source = "toy model (circuitlab.ch5.reference), then circuitlab.ch5.toy.train_sae (with resampling)"

        def make_toy(s: Any) -> tuple[Any, Callable[[int], Any]]:
            import torch

            torch.manual_seed(s.seed)
            model = toy_model(toy_config(s.n_instances, s.n_features, s.n_hidden))
            probability = torch.full((s.n_instances, s.n_features), s.probability)
            train_toy(model, probability, torch.ones(s.n_features), steps=s.toy_steps, batch_size=s.toy_batch_size,
                      lr=s.toy_lr)
            return model, lambda n: hidden_activations(model, generate_batch(probability, n))

    def toy_then_sae(s: Any) -> Any:
        import torch

        _, sample_h = make_toy(s)
        torch.manual_seed(s.seed + 1)
        sae = sae_class(s.n_instances, s.n_hidden, s.d_sae)
        return call_with_supported(train_sae, sae=sae, sample_h=sample_h, settings=s, resample=True, progress=False)

    return toy_then_sae, source


def measure_sae(settings: Settings) -> Outcome:
    require_chapter(settings, 5)
    toy = import_optional("circuitlab.ch5.toy")
    (settings_class,) = require(toy, "SAESettings")
    sae_settings = settings_class()
    if settings.quick:
        sae_settings = replace_supported(sae_settings, toy_steps=10, steps=10, resample_every=5, window=3)
    pipeline, source = _sae_pipeline(toy)
    seconds, runs, _ = measure_adaptively(lambda: pipeline(sae_settings), settings.quick)
    settings.log(f"  toy model and SAE {seconds:.2f} s")
    return Outcome(figures={"sae_seconds": round(seconds, 2)},
                   details={"runs_seconds": runs, "settings": jsonable(sae_settings), "source": source})


# --------------------------------------------------------------------------- instructor: autograding


def _reference_submission(released: dict[str, Any], source: dict[str, Any]) -> dict[str, Any]:
    """What a student who solved everything hands in: the release with every answer cell filled in."""
    from circuitlab.authoring.build import remove_markers

    def grade_id(cell: dict[str, Any]) -> str | None:
        return cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")

    def text(cell: dict[str, Any]) -> str:
        return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]

    answers = {grade_id(cell): remove_markers(text(cell)) for cell in source["cells"]
               if cell.get("metadata", {}).get("nbgrader", {}).get("solution")}
    submission = json.loads(json.dumps(released))
    for cell in submission["cells"]:
        if grade_id(cell) in answers:
            cell["source"] = answers[grade_id(cell)]
    return submission


def _write_class(folder: Path, slug: str, submission: dict[str, Any], students: int) -> None:
    """``students`` folders, ``student01/<slug>.ipynb`` ..., as an instructor collects them."""
    for number in range(1, students + 1):
        target = folder / f"student{number:02d}" / f"{slug}.ipynb"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(submission, indent=1), encoding="utf-8")


def measure_autograde(settings: Settings) -> Outcome:
    """Release the chapters as an nbgrader course, then grade reference submissions with ``circuitlab autograde``.

    Per notebook: one submission of the first chosen chapter (of every chosen chapter with
    ``--autograde-every-chapter``), one worker. The class: CLASS_SIZE submissions of the first
    chosen chapter, with one worker per available core, as an instructor would run it. The other
    graded chapters' class times are estimated from their per-notebook time (in the details).
    """
    import_optional("circuitlab.course")
    release_module = import_optional("circuitlab.course.release")
    autograde_module = import_optional("circuitlab.course.autograde")
    (release,) = require(release_module, "release")
    (grade_class,) = require(autograde_module, "grade_class")
    root = require_checkout(settings)
    from circuitlab.authoring.build import masters
    from circuitlab.bench.machine import available_cores

    slugs = [chapter.slug for _, chapter in masters(root) if chapter_selected(settings, chapter.number)]
    if settings.quick or not settings.autograde_every_chapter:
        slugs = slugs[:1]
    if not slugs:
        raise Unavailable("no chapter masters for the chosen chapters")
    class_size = 2 if settings.quick else settings.class_size
    workers = max(1, min(available_cores(), class_size))
    quiet = lambda line: None  # noqa: E731 (the course tools narrate every step; the benchmark reports the totals)
    per_notebook: dict[str, float | None] = {}
    details: dict[str, Any] = {"per_notebook": {}}
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="circuitlab-bench-course-") as scratch:
        work = Path(scratch)
        course = work / "course"
        start = time.perf_counter()
        call_with_supported(release, course_dir=course, chapters=slugs, log=quiet)
        details["release_seconds"] = round(time.perf_counter() - start, 2)
        submissions: dict[str, dict[str, Any]] = {}
        for slug in slugs:
            released = json.loads((course / "release" / slug / f"{slug}.ipynb").read_text(encoding="utf-8"))
            source = json.loads((course / "source" / slug / f"{slug}.ipynb").read_text(encoding="utf-8"))
            submissions[slug] = _reference_submission(released, source)
            _write_class(work / f"one-{slug}", slug, submissions[slug], 1)
            start = time.perf_counter()
            result = call_with_supported(grade_class, submissions=work / f"one-{slug}", course_dir=course,
                                         out_dir=work / f"grades-one-{slug}", workers=1, only=[slug], log=quiet)
            wall = time.perf_counter() - start
            outcome = result.outcomes.get(("student01", slug))
            scored = [row for row in result.rows if row["assignment"] == slug]
            full_marks = all(row["score"] and float(row["score"]) == float(row["max_score"]) for row in scored)
            graded = outcome is not None and outcome.status == "graded"
            per_notebook[slug] = round(outcome.seconds, 2) if graded else None
            details["per_notebook"][slug] = {"status": outcome.status if outcome else "missing",
                                             "full_marks": full_marks, "wall_seconds": round(wall, 2)}
            if not graded:
                problems.append(f"{slug}: the reference submission was {outcome.status if outcome else 'not graded'}")
            elif not full_marks:
                problems.append(f"{slug}: the reference submission did not get full marks")
            settings.log(f"  autograde {slug}: {per_notebook[slug]} s per notebook")
            settings.checkpoint({"autograde_seconds_per_notebook": per_notebook}, details,
                                f"stopped after grading one notebook of {slug}")
        class_slug = slugs[0]
        _write_class(work / "class", class_slug, submissions[class_slug], class_size)
        start = time.perf_counter()
        result = call_with_supported(grade_class, submissions=work / "class", course_dir=course,
                                     out_dir=work / "grades-class", workers=workers, only=[class_slug], log=quiet)
        class_seconds = time.perf_counter() - start
        graded = sum(1 for outcome in result.outcomes.values() if outcome.status == "graded")
    if graded != class_size:
        problems.append(f"only {graded} of the class's {class_size} submissions were graded")
    rounds = math.ceil(CLASS_SIZE / workers)
    details.update(
        class_chapter=class_slug, class_size=class_size, class_workers=workers,
        class_estimates_seconds={slug: round(rounds * seconds, 1) for slug, seconds in per_notebook.items() if seconds},
        class_estimate_rule=f"ceil({CLASS_SIZE} / {workers} workers) x the chapter's seconds per notebook",
        submission="the released notebook with every answer cell filled with the reference solution",
    )
    settings.log(f"  class of {class_size} ({class_slug}, {workers} workers): {class_seconds:.0f} s")
    class_figure = {class_slug: round(class_seconds, 1)} if class_size == CLASS_SIZE else None
    reason = "; ".join(problems) or None
    if class_size != CLASS_SIZE:
        # Grading is done in rounds of `workers` submissions at a time: scale by the number of rounds.
        estimate = class_seconds * math.ceil(CLASS_SIZE / workers) / math.ceil(class_size / workers)
        details.update(smaller_class_seconds=round(class_seconds, 1),
                       class_of_30_estimate_seconds={class_slug: round(estimate, 1)})
        reason = (reason + "; " if reason else "") + (
            f"a class of {class_size} was graded ({class_seconds:.0f} s with {workers} workers), not {CLASS_SIZE}; "
            f"scaled by rounds of {workers}, {CLASS_SIZE} would take about {estimate / 60:.0f} min")
    return Outcome(figures={"autograde_seconds_per_notebook": per_notebook, "class_of_30_seconds": class_figure},
                   details=details, status="error" if problems else "ok", reason=reason)


# --------------------------------------------------------------------------- fresh install


def _environment_without_venv() -> dict[str, str]:
    """This process's environment minus the active virtualenv, so ``make`` builds its own from scratch."""
    env = dict(os.environ)
    venv = env.pop("VIRTUAL_ENV", None)
    own_bin = str(Path(sys.executable).parent)
    parts = [p for p in env.get("PATH", "").split(os.pathsep) if p not in (own_bin, f"{venv}/bin" if venv else "")]
    env["PATH"] = os.pathsep.join(parts)
    for name in POOL_VARIABLES:
        env.pop(name, None)  # an install is network and disk bound; leave its defaults alone
    return env


def measure_install(settings: Settings) -> Outcome:
    if settings.quick:
        raise Skipped("the quick mode does not time a fresh install (it downloads for minutes)")
    root = require_checkout(settings)
    if shutil.which("git") is None or shutil.which("make") is None:
        raise Unavailable("git and make are needed to time a fresh `make install`")
    with tempfile.TemporaryDirectory(prefix="circuitlab-install-") as scratch:
        clone = Path(scratch) / "circuit-lab"
        subprocess.run(["git", "clone", "--quiet", str(root), str(clone)], check=True, capture_output=True, timeout=600)
        commit = subprocess.run(["git", "-C", str(clone), "rev-parse", "--short=12", "HEAD"],
                                capture_output=True, text=True).stdout.strip()
        start = time.perf_counter()
        done = subprocess.run(["make", "-C", str(clone), "install"], capture_output=True, text=True,
                              env=_environment_without_venv(), timeout=3600)
        seconds = time.perf_counter() - start
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        return Outcome(figures={"install_seconds": None}, status="error",
                       reason=f"`make install` failed (exit {done.returncode}): {' | '.join(tail)[:400]}",
                       details={"commit": commit})
    settings.log(f"  make install {seconds:.0f} s")
    return Outcome(figures={"install_seconds": round(seconds, 1)},
                   details={"commit": commit, "command": "git clone <repo> && make -C <clone> install",
                            "pip_cache": "as found on this machine (a warm cache skips downloads)"})


def measure_threads(settings: Settings) -> Outcome:
    """The thread policy against 1 and 2 threads, quiet and with one core busy (circuitlab.bench.contention)."""
    from circuitlab.bench.contention import measure_threads as measure

    return measure(settings)


SECTION_FUNCTIONS: dict[str, Callable[[Settings], Outcome]] = {
    "notebooks": measure_notebooks,
    "checks": measure_checks,
    "grok": measure_grok,
    "induction": measure_induction,
    "tms": measure_tms,
    "sae": measure_sae,
    "threads": measure_threads,
    "autograde": measure_autograde,
    "install": measure_install,
}
