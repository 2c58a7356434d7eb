"""Finding each student's notebooks in what an instructor collected.

Accepted layouts of ``SUBMISSIONS`` (the files there are only read, never changed):

- a folder with one folder per student (``alice/00_tools.ipynb``, ``alice/00_tools/00_tools.ipynb``,
  any depth), the folder name being the student id;
- a folder with one zip per student (``alice.zip``), as learning-management systems export them;
- a mix of both, or a single zip holding either layout.

A notebook belongs to the assignment whose name is its file name (``00_tools.ipynb``) or, failing
that, the one assignment name contained in it (``00_tools (1).ipynb``, ``alice_00_tools.ipynb``).
"""
from __future__ import annotations

import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints", ".git"}
STUDENT_ID = re.compile(r"[^A-Za-z0-9_.@-]+")


class IntakeError(Exception):
    """SUBMISSIONS cannot be read at all; the message says why."""


@dataclass
class StudentFiles:
    student: str  # the id used in the gradebook and grades.csv
    origin: str  # the folder or zip it came from
    notebooks: dict[str, Path] = field(default_factory=dict)  # assignment -> notebook
    problems: dict[str, str] = field(default_factory=dict)  # assignment -> why it cannot be graded


@dataclass
class Intake:
    students: dict[str, StudentFiles] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def student_id(name: str) -> str:
    """A gradebook-safe id from a folder or zip name: letters, digits and ``_.@-`` only."""
    cleaned = STUDENT_ID.sub("_", name.strip()).strip("._")
    return cleaned


def safe_extract(archive: Path, target: Path) -> list[str]:
    """Extract a zip, refusing members that would land outside ``target``; returns what was skipped."""
    skipped = []
    target = target.resolve()
    try:
        with zipfile.ZipFile(archive) as bundle:
            for member in bundle.infolist():
                destination = (target / member.filename).resolve()
                if not destination.is_relative_to(target):
                    skipped.append(member.filename)
                    continue
                if any(part in IGNORED_PARTS for part in Path(member.filename).parts):
                    continue
                bundle.extract(member, target)
    except zipfile.BadZipFile as exc:
        raise IntakeError(f"{archive.name} is not a readable zip file ({exc}).") from None
    return skipped


def _visible(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return not any(part in IGNORED_PARTS or part.startswith(".") for part in parts)


def _unwrap(folder: Path) -> Path:
    """A zip of the whole class often holds one wrapping folder; look inside it."""
    entries = [p for p in folder.iterdir() if p.name not in IGNORED_PARTS and not p.name.startswith(".")]
    if len(entries) == 1 and entries[0].is_dir() and not any(entries[0].glob("*.ipynb")):
        return entries[0]
    return folder


def match_assignment(file_name: str, assignments: list[str]) -> str | None:
    stem = Path(file_name).stem
    if stem in assignments:
        return stem
    contained = [a for a in assignments if a in file_name]
    # "01_transformer" inside "01_transformer_v2": prefer the longest name that fits.
    return max(contained, key=len) if contained else None


def _assign_notebooks(files: StudentFiles, folder: Path, assignments: list[str], warnings: list[str]) -> None:
    found: dict[str, list[Path]] = {}
    for notebook in sorted(folder.rglob("*.ipynb")):
        if not _visible(notebook, folder):
            continue
        assignment = match_assignment(notebook.name, assignments)
        if assignment is None:
            warnings.append(f"{files.origin}: {notebook.relative_to(folder)} matches no assignment; not graded.")
            continue
        found.setdefault(assignment, []).append(notebook)
    for assignment, notebooks in found.items():
        exact = [n for n in notebooks if n.stem == assignment]
        chosen = exact if exact else notebooks
        if len(chosen) == 1:
            files.notebooks[assignment] = chosen[0]
        else:
            names = ", ".join(str(n.relative_to(folder)) for n in chosen)
            files.problems[assignment] = f"several notebooks for {assignment} ({names}); keep one and grade again"


def collect(submissions: Path, scratch: Path, assignments: list[str]) -> Intake:
    """Find every student's notebook for each assignment; zips are extracted under ``scratch``."""
    submissions = Path(submissions)
    if not submissions.exists():
        raise IntakeError(f"No such folder or zip: {submissions}")
    intake = Intake()
    root = submissions
    if submissions.is_file():
        if submissions.suffix.lower() != ".zip":
            raise IntakeError(f"{submissions} is a file; expected a folder of submissions or a zip of them.")
        root = scratch / "class"
        root.mkdir(parents=True, exist_ok=True)
        for name in safe_extract(submissions, root):
            intake.warnings.append(f"{submissions.name}: skipped {name} (it points outside the archive).")
        root = _unwrap(root)
    for entry in sorted(root.iterdir()):
        if entry.name in IGNORED_PARTS or entry.name.startswith("."):
            continue
        if entry.is_dir():
            folder, origin = entry, entry.name
        elif entry.suffix.lower() == ".zip":
            folder, origin = scratch / "students" / entry.stem, entry.name
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            try:
                for name in safe_extract(entry, folder):
                    intake.warnings.append(f"{entry.name}: skipped {name} (it points outside the archive).")
            except IntakeError as exc:
                intake.warnings.append(f"{exc} Not graded.")
                continue
        elif entry.suffix.lower() == ".ipynb":
            intake.warnings.append(
                f"{entry.name} is loose in {root}: put each student's notebooks in a folder (or zip) named by the "
                "student's id. Not graded."
            )
            continue
        else:
            intake.warnings.append(f"{entry.name}: neither a student folder nor a zip; ignored.")
            continue
        sid = student_id(Path(origin).stem if entry.is_file() else origin)
        if not sid:
            intake.warnings.append(f"{origin}: no usable student id in the name; not graded.")
            continue
        if sid in intake.students:
            intake.warnings.append(
                f"{origin} and {intake.students[sid].origin} both give student id {sid!r}; only the first is graded."
            )
            continue
        if sid != Path(origin).stem and sid != origin:
            intake.warnings.append(f"{origin}: graded as student id {sid!r}.")
        files = StudentFiles(sid, origin)
        _assign_notebooks(files, folder, assignments, intake.warnings)
        # A zip inside a student's folder (an LMS upload of a zipped notebook): look inside it too.
        for inner in sorted(folder.rglob("*.zip")):
            if not _visible(inner, folder):
                continue
            unpacked = scratch / "inner" / sid / inner.stem
            unpacked.mkdir(parents=True, exist_ok=True)
            try:
                safe_extract(inner, unpacked)
            except IntakeError as exc:
                intake.warnings.append(f"{origin}: {exc}")
                continue
            extra = StudentFiles(sid, f"{origin}/{inner.name}")
            _assign_notebooks(extra, unpacked, assignments, intake.warnings)
            for assignment, notebook in extra.notebooks.items():
                if assignment in files.notebooks:
                    files.problems[assignment] = (f"several notebooks for {assignment} (one inside {inner.name}); "
                                                  "keep one and grade again")
                else:
                    files.notebooks[assignment] = notebook
        for assignment in files.problems:
            files.notebooks.pop(assignment, None)
        intake.students[sid] = files
    if not intake.students:
        raise IntakeError(
            f"No student submissions found in {submissions}: expected one folder or zip per student"
            + (f" ({'; '.join(intake.warnings[:3])})" if intake.warnings else "") + "."
        )
    return intake
