"""Generate every notebook from the chapter masters (``make notebooks``).

From ``masters/NN_slug.py`` (jupytext percent format; cell markers in ``docs/authoring.md``):

- ``chapters/NN_slug.ipynb``: the learner notebook (stubs, no solutions, no outputs);
- ``solutions/NN_slug.ipynb``: the complete notebook;
- ``course/source/NN_slug/NN_slug.ipynb``: the nbgrader source (solution and test cells marked).

Each exercise's solution is written once, in ``utils/circuitlab/chN/reference.py``, with its
``### BEGIN SOLUTION`` / ``### END SOLUTION`` regions. A master's solution cell is empty: the
generator fills it with the exercise's reference definition (and the helpers its ``defines``
names), so the notebooks, the nbgrader source and the graders' reference cannot drift apart.

Generated files are never edited by hand; ``tests/test_notebooks_fresh.py`` fails when they are stale.
Usage: ``python -m circuitlab.authoring.build [--check]``.
"""
from __future__ import annotations

import argparse
import ast
import copy
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

from circuitlab.grading.registry import PACKAGE_ROOT, Chapter, Exercise, chapters, exercises
from circuitlab.project import colab_url, docs_url, install_spec

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
MARKER_KEYS = ("exercise", "solution", "check", "solution_only", "defines", "lines_to_next_cell", "cell_marker",
               "lines_to_end_of_cell_marker")
VARIANTS = ("learner", "solution", "nbgrader")
CHECK_LINE = re.compile(r"""^check\(\s*["'](ch\d+\.[a-z0-9_]+)["']\s*,\s*(.+)\)\s*$""")


def repo_root() -> Path:
    """The repository holding ``masters/`` (the package is installed in editable mode from it)."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "masters").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    raise FileNotFoundError("No masters/ directory found: notebooks are built from a repository checkout.")


@dataclass(frozen=True)
class Outputs:
    learner: Path
    solution: Path
    nbgrader: Path


def output_paths(root: Path, slug: str) -> Outputs:
    return Outputs(
        learner=root / "chapters" / f"{slug}.ipynb",
        solution=root / "solutions" / f"{slug}.ipynb",
        nbgrader=root / "course" / "source" / slug / f"{slug}.ipynb",
    )


# --------------------------------------------------------------------------- cell helpers


def strip_solutions(source: str) -> str:
    """Replace each BEGIN/END SOLUTION region by a stub raising NotImplementedError (same indentation)."""
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            indent = line[: len(line) - len(line.lstrip())]
            out += [f"{indent}# YOUR CODE HERE", f"{indent}raise NotImplementedError()"]
            inside = True
        elif stripped == END:
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN} without {END}:\n{source}")
    return "\n".join(out)


def remove_markers(source: str) -> str:
    """The solution version: the markers go, the code between them stays."""
    return "\n".join(line for line in source.splitlines() if line.strip() not in (BEGIN, END))


def solution_regions(source: str) -> list[str]:
    """The code inside each BEGIN/END SOLUTION region (used by tests to look for leaks)."""
    regions, current, inside = [], [], False
    for line in source.splitlines():
        if line.strip() == BEGIN:
            inside, current = True, []
        elif line.strip() == END:
            inside = False
            regions.append("\n".join(current))
        elif inside:
            current.append(line)
    return regions


def _stars(count: int, on: str, off: str = "⚪") -> str:
    return on * count + off * (5 - count)


def exercise_heading(exercise: Exercise, number: str) -> str:
    bonus = " (bonus)" if exercise.bonus else ""
    return (
        f"### Exercise {number}{bonus}: {exercise.title}\n\n"
        f"Difficulty {_stars(exercise.difficulty, '🔴')} · Importance {_stars(exercise.importance, '🔵')} · "
        f"about {exercise.minutes} minutes · {exercise.points} point{'s' if exercise.points != 1 else ''} · "
        f"id `{exercise.id}`"
    )


def hints_markdown(exercise: Exercise) -> str:
    if not exercise.hints:
        return ""
    blocks = [
        f"<details><summary>Hint {i} of {len(exercise.hints)}</summary>\n\n{text}\n\n</details>"
        for i, text in enumerate(exercise.hints, start=1)
    ]
    return "\n\n" + "\n".join(blocks) + f'\n\nOr run `hint("{exercise.id}")`.'


def header_cells(chapter: Chapter) -> list[Any]:
    colab = colab_url(f"chapters/{chapter.slug}.ipynb")
    intro = nbformat.v4.new_markdown_cell(
        f"# Chapter {chapter.number}: {chapter.title}\n\n"
        f"[![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)]({colab})"
        " · run the setup cell first · `check(...)` cells grade your work as you go"
    )
    setup = nbformat.v4.new_code_cell(
        "# Setup: run this cell first. On Colab it installs Circuit Lab and keeps Colab's own torch.\n"
        "import sys\n"
        "\n"
        'if "google.colab" in sys.modules:\n'
        f'    %pip install --quiet "{install_spec()}"\n'
        "\n"
        "try:\n"
        "    from circuitlab import check, hint, progress, setup\n"
        "except ModuleNotFoundError as missing:\n"
        '    raise ModuleNotFoundError("This kernel cannot find Circuit Lab. From a checkout of the repository, "\n'
        '                              "run `make lab` (or `pip install -e .` in this environment).") from missing\n'
        "\n"
        "env = setup()"
    )
    setup.metadata["tags"] = ["setup"]
    return [intro, setup]


# --------------------------------------------------------------------------- glossary links


@dataclass(frozen=True)
class GlossaryTerm:
    pattern: re.Pattern
    url: str


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def glossary_terms(root: Path) -> list[GlossaryTerm]:
    """Terms from docs/glossary.md (its ### headings), longest first so 'OV circuit' wins over 'circuit'."""
    path = root / "docs" / "glossary.md"
    if not path.exists():
        return []
    terms = []
    for heading in re.findall(r"^### (.+)$", path.read_text(), flags=re.MULTILINE):
        words = re.sub(r"\s*\(.*?\)", "", heading).strip()
        pattern = re.compile(rf"(?<![\w`\[/#-])({re.escape(words)}s?)(?![\w`\]])(?! Lab)", re.IGNORECASE)
        terms.append(GlossaryTerm(pattern, f"{docs_url('docs/glossary.md')}#{github_anchor(heading)}"))
    return sorted(terms, key=lambda t: -len(t.pattern.pattern))


def link_glossary_terms(text: str, terms: list[GlossaryTerm], linked: set[str]) -> str:
    """Link the first appearance in a chapter of each glossary term (prose only: not headings,
    code spans, links or HTML)."""
    out_lines = []
    for line in text.splitlines():
        if line.lstrip().startswith(("#", "<", "|", "```", "    ")):
            out_lines.append(line)
            continue
        segments = line.split("`")
        for index in range(0, len(segments), 2):  # even segments are outside code spans
            for term in terms:
                if term.url in linked:
                    continue
                segment = segments[index]
                for match in term.pattern.finditer(segment):
                    before = segment[: match.start()]
                    if before.count("[") > before.count("]") or before.count("(") > before.count(")"):
                        continue  # inside a link's text or a parenthesised URL
                    segments[index] = f"{before}[{match.group(1)}]({term.url}){segment[match.end():]}"
                    linked.add(term.url)
                    break
        out_lines.append("`".join(segments))
    return "\n".join(out_lines)


# --------------------------------------------------------------------------- solutions from the references


def reference_path(exercise: Exercise) -> Path:
    return PACKAGE_ROOT / f"ch{exercise.chapter}" / "reference.py"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def reference_definitions(exercise: Exercise, helpers: tuple[str, ...] = ()) -> str:
    """The source text of the exercise's reference definition and of ``helpers`` (other top-level
    definitions of the same reference module), in the module's order, decorators included."""
    path = reference_path(exercise)
    text = path.read_text()
    lines = text.splitlines()
    wanted = {exercise.reference, *helpers}
    blocks = []
    for node in ast.parse(text).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in wanted:
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            last = node.end_lineno
            # A trailing comment indented under the definition (an END marker) belongs to it; ast stops before it.
            while last < len(lines) and lines[last].lstrip().startswith("#") and _indent(lines[last]) > node.col_offset:
                last += 1
            blocks.append("\n".join(lines[first - 1: last]))
            wanted.discard(node.name)
    if wanted:
        raise MasterError(f"{exercise.id}: {path.name} has no top-level definition of {', '.join(sorted(wanted))}.")
    return "\n\n\n".join(blocks)


def solution_source(exercise: Exercise, defines: str = "") -> str:
    """The full solution cell of an exercise (solution regions marked), from its reference module."""
    source = reference_definitions(exercise, tuple(defines.split()))
    if BEGIN not in source:
        raise MasterError(f"{exercise.id}: the reference definition in {reference_path(exercise).name} "
                          f"has no {BEGIN} region.")
    return source


# --------------------------------------------------------------------------- building


class MasterError(ValueError):
    pass


def _read_master(path: Path) -> Any:
    import jupytext

    return jupytext.read(path, fmt="py:percent")


def _clean_metadata(cell: Any) -> dict[str, Any]:
    return {k: v for k, v in cell.metadata.items() if k not in MARKER_KEYS}


def _nbgrader_meta(**fields: Any) -> dict[str, Any]:
    meta = {"grade": False, "locked": False, "schema_version": 3, "solution": False, "task": False}
    meta.update(fields)
    return meta


def build_chapter(master: Path, chapter: Chapter) -> dict[str, Any]:
    """Return the three notebooks (as nbformat objects) generated from one master."""
    registry = exercises()
    source_nb = _read_master(master)
    notebooks = {variant: nbformat.v4.new_notebook() for variant in VARIANTS}
    for variant, nb in notebooks.items():
        nb.cells.extend(copy.deepcopy(header_cells(chapter)))
        if variant == "nbgrader":
            nb.cells[1].metadata["nbgrader"] = _nbgrader_meta(locked=True, grade_id=f"{chapter.slug}-setup")
    exercise_count = 0
    free_count = 0
    terms = glossary_terms(repo_root())
    linked: set[str] = set()
    for cell in source_nb.cells:
        meta = cell.metadata
        base_meta = _clean_metadata(cell)
        if meta.get("solution_only"):
            notebooks["solution"].cells.append(_new_cell(cell.cell_type, remove_markers(cell.source), base_meta))
            continue
        if cell.cell_type == "markdown":
            text = link_glossary_terms(cell.source, terms, linked)
            if "exercise" in meta:
                exercise = _lookup(registry, meta["exercise"], master)
                exercise_count += 1
                text = exercise_heading(exercise, f"{chapter.number}.{exercise_count}") + "\n\n" + text + hints_markdown(exercise)
            for nb in notebooks.values():
                nb.cells.append(_new_cell("markdown", text, base_meta))
            continue
        if cell.cell_type != "code":
            for nb in notebooks.values():
                nb.cells.append(_new_cell(cell.cell_type, cell.source, base_meta))
            continue
        if "check" in meta:
            exercise = _lookup(registry, meta["check"], master)
            match = CHECK_LINE.match(cell.source.strip())
            if not match or match.group(1) != exercise.id:
                raise MasterError(f"{master.name}: a check cell must be exactly check({exercise.id!r}, obj); got {cell.source!r}")
            obj = match.group(2).strip()
            notebooks["learner"].cells.append(_new_cell("code", cell.source, base_meta))
            notebooks["solution"].cells.append(_new_cell("code", cell.source, base_meta))
            # The test cell imports grade itself, so it still works if the learner deleted the setup cell
            # (nbgrader restores missing grade cells, not read-only ones).
            test = _new_cell("code", f'from circuitlab import grade\n\ngrade("{exercise.id}", {obj})', base_meta)
            test.metadata["nbgrader"] = _nbgrader_meta(
                grade=True, locked=True, points=exercise.points, grade_id=f"{exercise.grade_id}-test"
            )
            notebooks["nbgrader"].cells.append(test)
            continue
        if "solution" in meta:
            if cell.source.strip():
                raise MasterError(f"{master.name}: solution cell {meta['solution']} must be empty; the solution "
                                  "lives in the chapter's reference.py and is filled in here.")
            cell = copy.deepcopy(cell)
            cell.source = solution_source(_lookup(registry, meta["solution"], master), meta.get("defines", ""))
        has_markers = BEGIN in cell.source
        if has_markers:
            if "solution" in meta:
                grade_id = _lookup(registry, meta["solution"], master).grade_id
            else:
                free_count += 1
                grade_id = f"{chapter.slug}-free-{free_count}"
            notebooks["learner"].cells.append(_new_cell("code", strip_solutions(cell.source), base_meta))
            notebooks["solution"].cells.append(_new_cell("code", remove_markers(cell.source), base_meta))
            answer = _new_cell("code", cell.source, base_meta)
            answer.metadata["nbgrader"] = _nbgrader_meta(solution=True, grade_id=grade_id)
            notebooks["nbgrader"].cells.append(answer)
            continue
        for nb in notebooks.values():
            nb.cells.append(_new_cell("code", cell.source, base_meta))
    for nb in notebooks.values():
        _finish(nb)
    return notebooks


def _lookup(registry: dict[str, Exercise], exercise_id: str, master: Path) -> Exercise:
    if exercise_id not in registry:
        raise MasterError(f"{master.name} refers to {exercise_id!r}, which is not in any chapter's exercises.py.")
    return registry[exercise_id]


def _new_cell(cell_type: str, source: str, metadata: dict[str, Any]) -> Any:
    make = {"markdown": nbformat.v4.new_markdown_cell, "code": nbformat.v4.new_code_cell,
            "raw": nbformat.v4.new_raw_cell}[cell_type]
    cell = make(source)
    cell.metadata.update(copy.deepcopy(metadata))
    return cell


def _finish(nb: Any) -> None:
    """Deterministic ids and metadata, so regenerating an unchanged master changes nothing."""
    for index, cell in enumerate(nb.cells):
        cell["id"] = f"cell-{index:03d}"
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
    }


def serialise(nb: Any) -> str:
    return nbformat.writes(nb) + ("" if nbformat.writes(nb).endswith("\n") else "\n")


def masters(root: Path) -> list[tuple[Path, Chapter]]:
    by_slug = {c.slug: c for c in chapters()}
    found = []
    for path in sorted((root / "masters").glob("*.py")):
        if path.stem not in by_slug:
            raise MasterError(f"{path.name}: no chapter package declares slug {path.stem!r}.")
        found.append((path, by_slug[path.stem]))
    return found


TABLE_START, TABLE_END = "<!-- chapters:start -->", "<!-- chapters:end -->"


def chapter_table(built: list[Chapter]) -> str:
    """The README's curriculum map, generated from the chapter packages' metadata."""
    registry = exercises()
    rows = [
        "| # | chapter | what you build | paper | prerequisites | hours | exercises |",
        "|---|---|---|---|---|---|---|",
    ]
    for chapter in built:
        own = [e for e in registry.values() if e.chapter == chapter.number]
        points = sum(e.points for e in own)
        link = f"[{chapter.title}](chapters/{chapter.slug}.ipynb) ([Colab]({colab_url(f'chapters/{chapter.slug}.ipynb')}))"
        rows.append(
            f"| {chapter.number} | {link} | {chapter.summary} | {chapter.paper} | "
            f"{'; '.join(chapter.prerequisites)} | {chapter.hours:g} | {len(own)} ({points} points) |"
        )
    return "\n".join(rows)


def readme_with_table(readme: str, built: list[Chapter]) -> str:
    if TABLE_START not in readme or TABLE_END not in readme:
        return readme
    head, rest = readme.split(TABLE_START, 1)
    _, tail = rest.split(TABLE_END, 1)
    return f"{head}{TABLE_START}\n{chapter_table(built)}\n{TABLE_END}{tail}"


def build_all(root: Path | None = None) -> dict[Path, str]:
    """Every generated file's path and text (the notebooks, and the README's chapter table)."""
    root = root or repo_root()
    files: dict[Path, str] = {}
    built = []
    for master, chapter in masters(root):
        notebooks = build_chapter(master, chapter)
        paths = output_paths(root, chapter.slug)
        files[paths.learner] = serialise(notebooks["learner"])
        files[paths.solution] = serialise(notebooks["solution"])
        files[paths.nbgrader] = serialise(notebooks["nbgrader"])
        built.append(chapter)
    readme = root / "README.md"
    if readme.exists():
        files[readme] = readme_with_table(readme.read_text(), built)
    return files


def stale_files(root: Path | None = None) -> list[Path]:
    """Generated files that differ from what the masters produce (or are missing)."""
    return [path for path, text in build_all(root).items() if not path.exists() or path.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report stale files; exit 1 if any")
    args = parser.parse_args(argv)
    root = repo_root()
    if args.check:
        stale = stale_files(root)
        for path in stale:
            print(f"stale: {path.relative_to(root)}")
        return 1 if stale else 0
    for path, text in build_all(root).items():
        if path.exists() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(root)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
