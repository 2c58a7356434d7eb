"""The benchmark's table (printed, and kept in the README between two markers)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from circuitlab.bench.results import FIGURES

START_MARKER = "<!-- bench:start -->"
END_MARKER = "<!-- bench:end -->"
DASH = "—"


def _seconds(value: float | None) -> str:
    if value is None:
        return DASH
    if value >= 120:
        return f"{value / 60:.1f} min"
    return f"{value:.1f} s" if value >= 10 else f"{value:.2f} s"


def _milliseconds(value: float | None) -> str:
    return DASH if value is None else (f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms")


def _megabytes(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value / 1024:.2f} GB" if value >= 1024 else f"{value:.0f} MB"


def _note(results: dict[str, Any], section: str) -> str:
    record = results["sections"][section]
    status, reason = record["status"], record.get("reason") or ""
    if status == "ok":
        return reason
    return f"{status.replace('_', ' ')}: {reason}" if reason else status.replace("_", " ")


def _chapter_titles() -> dict[int, str]:
    try:
        from circuitlab.grading.registry import chapters

        return {chapter.number: chapter.title for chapter in chapters()}
    except Exception:  # the table must still print if a chapter package is broken
        return {}


def _chapter_of_slug(slug: str) -> int | None:
    head = slug.split("_", 1)[0]
    return int(head) if head.isdigit() else None


def _notebook_rows(results: dict[str, Any], titles: dict[int, str]) -> list[tuple[str, str, str]]:
    seconds = results.get("notebook_seconds") or {}
    peaks = results.get("notebook_peak_mb") or {}
    details = results["sections"]["notebooks"].get("details", {}).get("per_notebook", {})
    if not seconds:
        return [("solution notebooks", DASH, _note(results, "notebooks"))]
    rows = []
    for slug in sorted(seconds):
        number = _chapter_of_slug(slug)
        name = f"chapter {number} notebook" + (f" ({titles[number]})" if number in titles else "")
        error = (details.get(slug) or {}).get("error")
        value = f"{_seconds(seconds[slug])}, peak {_megabytes(peaks.get(slug))}"
        rows.append((name, value, f"failed at {error}" if error else ""))
    missing = results["sections"]["notebooks"].get("details", {}).get("missing") or []
    if missing:
        rows.append(("solution notebooks not measured", DASH, ", ".join(missing)))
    return rows


def _check_rows(results: dict[str, Any], titles: dict[int, str]) -> list[tuple[str, str, str]]:
    timings = results.get("check_ms") or {}
    if not timings:
        return [("check(), per exercise", DASH, _note(results, "checks"))]
    by_chapter: dict[int, dict[str, dict[str, float] | None]] = {}
    for exercise_id, value in timings.items():
        by_chapter.setdefault(int(exercise_id.split(".")[0][2:]), {})[exercise_id] = value
    rows = []
    for number in sorted(by_chapter):
        measured = {k: v for k, v in by_chapter[number].items() if v}
        broken = sorted(k for k, v in by_chapter[number].items() if not v)
        if measured:
            medians = sorted(v["median"] for v in measured.values())
            slowest = max(measured, key=lambda k: measured[k]["p95"])
            value = (f"median {_milliseconds(medians[len(medians) // 2])} (typical exercise), "
                     f"slowest p95 {_milliseconds(measured[slowest]['p95'])}")
            note = f"{len(measured)} exercises; slowest {slowest}"
        else:
            value, note = DASH, ""
        if broken:
            note += ("; " if note else "") + "could not time " + ", ".join(broken)
        rows.append((f"check(), chapter {number}", value, note))
    return rows


def _grok_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    grok = results.get("grok")
    if not grok:
        return [("grokking (chapter 4)", DASH, _note(results, "grok"))]
    epochs = grok.get("epochs_to_99pct_test")
    to_grok = (f"{_seconds(grok.get('seconds_to_99pct_test'))}, {epochs} epochs" if epochs is not None else DASH)
    speed = (f"fast {_milliseconds(grok.get('fast_ms_per_epoch'))}, paper {_milliseconds(grok.get('paper_ms_per_epoch'))}"
             f" ({grok['speedup']:.1f}× faster)" if grok.get("speedup") else DASH)
    return [("grokking: fast recipe to ≥ 99% test accuracy", to_grok, _note(results, "grok")),
            ("grokking: one epoch, side by side", speed, "same model and data, evaluations excluded; median of alternated runs")]


def _induction_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    induction = results.get("induction")
    if not induction or induction.get("steps") is None:
        return [("induction heads form from scratch", DASH, _note(results, "induction"))]
    value = f"{_seconds(induction['seconds'])}, {induction['steps']} steps"
    note = "repeated-half loss below half its initial value"
    if induction.get("induction_score_steps") is not None:
        note += (f"; induction score ≥ 0.5 at {induction['induction_score_steps']} steps "
                 f"({_seconds(induction['induction_score_seconds'])})")
    return [("induction heads form from scratch (chapter 2)", value, note)]


def _threads_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    """Grokking and one notebook with 1 thread, 2 threads and the policy's choice, quiet and with one core busy."""
    figure = results.get("threads")
    if not figure:
        return [("thread policy, quiet and with one core busy", DASH, _note(results, "threads"))]
    details = results["sections"]["threads"].get("details", {})
    notebook = Path(str((details.get("notebook") or {}).get("path", "the notebook"))).stem
    chosen = figure.get("policy_threads") or {}
    ratios = figure.get("policy_over_one_thread") or {}
    rows = []
    for what, key, label in (("grok", "grok_seconds", "grokking (`--bench`)"), ("notebook", "notebook_seconds", notebook)):
        for state, times in (figure.get(key) or {}).items():
            value = ", ".join(f"{name} {_seconds(seconds)}" for name, seconds in times.items())
            ratio = (ratios.get(what) or {}).get(state)
            note = (f"policy chose {chosen.get(state)} thread(s)" if state in chosen else "")
            if ratio is not None:
                note += f"; policy / 1 thread = {ratio:.2f}"
            rows.append((f"threads: {label}, {state}", value, note))
    return rows or [("thread policy, quiet and with one core busy", DASH, _note(results, "threads"))]


def _single(results: dict[str, Any], figure: str, label: str) -> tuple[str, str, str]:
    return (label, _seconds(results.get(figure)), _note(results, FIGURES[figure]))


def _autograde_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    per_notebook = results.get("autograde_seconds_per_notebook") or {}
    class_times = results.get("class_of_30_seconds") or {}
    details = results["sections"]["autograde"].get("details", {})
    note = _note(results, "autograde")
    if not per_notebook and not class_times:
        return [("`circuitlab autograde`", DASH, note)]
    rows = []
    for slug in sorted(per_notebook):
        rows.append((f"autograde one chapter {_chapter_of_slug(slug)} notebook", _seconds(per_notebook[slug]), ""))
    estimates = details.get("class_estimates_seconds") or {}
    workers = details.get("class_workers")
    for slug in sorted(class_times):
        others = {k: v for k, v in estimates.items() if k != slug}
        estimate_note = ""
        if others:
            estimate_note = ("estimated for the other chapters: "
                             + ", ".join(f"chapter {_chapter_of_slug(k)} {_seconds(v)}" for k, v in sorted(others.items())))
        rows.append((f"autograde a class of 30, chapter {_chapter_of_slug(slug)}"
                     + (f" ({workers} workers)" if workers else ""), _seconds(class_times[slug]), estimate_note))
    smaller = details.get("smaller_class_seconds")
    for slug, estimate in sorted((details.get("class_of_30_estimate_seconds") or {}).items()):
        rows.append((f"autograde a class of 30, chapter {_chapter_of_slug(slug)}"
                     + (f" ({workers} workers)" if workers else ""), f"≈ {_seconds(estimate)}",
                     f"estimated: a class of {details.get('class_size')} took {_seconds(smaller)}, "
                     f"scaled by the number of rounds of {workers}"))
    if note:
        rows[0] = (rows[0][0], rows[0][1], note)
    return rows


def table_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    titles = _chapter_titles()
    return [
        *_notebook_rows(results, titles),
        *_check_rows(results, titles),
        *_grok_rows(results),
        *_induction_rows(results),
        _single(results, "tms_sweep_seconds", "toy models of superposition: sparsity sweep (chapter 5)"),
        _single(results, "sae_seconds", "sparse autoencoders on a toy model (chapter 5)"),
        *_threads_rows(results),
        *_autograde_rows(results),
        _single(results, "install_seconds", "fresh `make install`"),
    ]


def machine_line(results: dict[str, Any]) -> str:
    machine = results.get("machine") or {}
    cores = machine.get("cores_available") or machine.get("logical_cores")
    when = str(results.get("generated_at") or "").replace("T", " ").replace("Z", " UTC")
    gpu = f"GPU {machine['gpu']}" if machine.get("gpu") else "no GPU"
    parts = [
        f"Measured {when} on {machine.get('cpu', 'an unknown CPU')} ({cores} cores available, "
        f"{machine.get('memory_gb')} GB of memory, {gpu})",
        f"{machine.get('os')}, Python {machine.get('python')}, torch {machine.get('torch')}",
        f"{machine.get('threads')} threads, {'offline' if machine.get('offline') else 'online'}",
    ]
    line = ", ".join(parts) + "."
    loads = _one_minute_loads(results)
    if loads:
        low, high = min(loads), max(loads)
        span = f"{low:g}" if low == high else f"{low:g} to {high:g}"
        busy = high > (cores or 1)
        line += (f" Load average (1 min) during the run: {span}"
                 + (f", more than the {cores} cores: the machine was shared, so these times are pessimistic." if busy
                    else "."))
    if results.get("note"):  # how the run was made, when it differs from one plain `make bench`
        line += f" {results['note'].strip()}"
    if machine.get("commit"):
        line += f" Commit {machine['commit']}."
    if results.get("quick"):
        line += " Quick mode (tiny settings): these are not representative figures."
    if not results.get("complete"):
        line += " Not every section produced its figures; the notes say why."
    return line


def _one_minute_loads(results: dict[str, Any]) -> list[float]:
    """Every 1-minute load average recorded: at the start and end, and around each measured section."""
    machine = results.get("machine") or {}
    readings = [machine.get("load_average_at_start"), machine.get("load_average_at_end")]
    for record in results["sections"].values():
        if record.get("status") in ("ok", "error"):
            load = record.get("load_average") or {}
            readings += [load.get("before"), load.get("after")]
    return [reading[0] for reading in readings if reading]


def markdown(results: dict[str, Any]) -> str:
    lines = [machine_line(results), "", "| what | time (and memory) | note |", "|---|---|---|"]
    for name, value, note in table_rows(results):
        lines.append(f"| {name} | {value} | {note.replace('|', '/')} |")
    lines += ["", "Reproduce with `make bench` (options: `python -m circuitlab.bench --help`); "
              "every figure, with its raw runs, is in `bench/results.json`."]
    return "\n".join(lines)


def plain_table(results: dict[str, Any]) -> str:
    """The same rows for a terminal: aligned columns instead of markdown pipes."""
    rows = table_rows(results)
    width_name = max(len(r[0]) for r in rows)
    width_value = max(len(r[1]) for r in rows)
    lines = [machine_line(results), ""]
    for name, value, note in rows:
        lines.append(f"{name:<{width_name}}  {value:<{width_value}}  {note}".rstrip())
    return "\n".join(lines)


class ReadmeProblem(Exception):
    """The README cannot be updated (it is left as it was)."""


def update_readme(readme: Path, section: str) -> str:
    """Put ``section`` between the bench markers of ``readme``; returns what was done, in a few words.

    The markers are appended at the end (under a heading) if the README has none yet. A README with
    only one marker, or with them in the wrong order, is left alone: guessing where the section
    ends could delete the text around it.
    """
    if not readme.is_file():
        raise ReadmeProblem(f"{readme} does not exist; the table was not written to it")
    text = readme.read_text(encoding="utf-8")
    starts, ends = text.count(START_MARKER), text.count(END_MARKER)
    block = f"{START_MARKER}\n{section.strip()}\n{END_MARKER}"
    if starts == 0 and ends == 0:
        readme.write_text(text.rstrip("\n") + "\n\n## Benchmark\n\n" + block + "\n", encoding="utf-8")
        return "appended the benchmark section"
    if starts != 1 or ends != 1 or text.index(START_MARKER) > text.index(END_MARKER):
        raise ReadmeProblem(f"{readme} must hold {START_MARKER} once, followed by {END_MARKER} once; "
                            "fix the markers and run again (the README was not changed)")
    before, rest = text.split(START_MARKER, 1)
    _, after = rest.split(END_MARKER, 1)
    readme.write_text(before + block + after, encoding="utf-8")
    return "updated the benchmark section"
