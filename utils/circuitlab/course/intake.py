"""Finding each student's notebooks in what an instructor collected, losing nobody.

Accepted layouts of ``SUBMISSIONS`` (the files there are only read, never changed):

- one folder per student (``alice/00_tools.ipynb``, ``alice/00_tools/00_tools.ipynb``, any depth);
- one zip per student (``alice.zip``);
- loose notebooks named after their student (``alice_00_tools.ipynb``);
- a Canvas "download submissions" folder or zip: loose files named
  ``<name>_[LATE_]<user id>_<submission id>_<file name>``;
- a Moodle "download all submissions" folder or zip: ``<Full Name>_<participant>_assignsubmission_file_/``
  folders (or the same prefix on loose files);
- any of these inside a zip and inside wrapping folders.

Every student's original folder or file name becomes a stable, non-empty id (``student_id``); two
different names never share an id. Anything that cannot be attributed with certainty (a loose
notebook with no name, two notebooks for one assignment, two submissions that may be the same
student) is listed under "needs a look", never merged or dropped silently.
"""
from __future__ import annotations

import hashlib
import re
import shutil
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

IGNORED_PARTS = {"__MACOSX", ".ipynb_checkpoints", ".git"}
UNSAFE = re.compile(r"[^A-Za-z0-9_.@-]+")
CANVAS_FILE = re.compile(r"^(?P<name>[^_]+)_(?:LATE_)?(?P<uid>\d+)_(?P<sub>\d+)_(?P<file>.+)$")
MOODLE_ENTRY = re.compile(r"^(?P<name>.+?)_(?P<pid>\d+)_assignsubmission_(?:file|onlinetext)_(?P<file>.*)$")


class IntakeError(Exception):
    """SUBMISSIONS cannot be read at all; the message says why."""


@dataclass
class StudentFiles:
    student: str  # the id used in every output
    origin: str  # the folder, zip or file names it came from
    layout: str = "folder"  # folder | zip | loose | canvas | moodle
    lms_id: str = ""  # Canvas user id or Moodle participant number, when the layout carries one
    name: str = ""  # the student's name as the layout gives it
    notebooks: dict[str, Path] = field(default_factory=dict)  # assignment -> notebook
    problems: dict[str, str] = field(default_factory=dict)  # assignment -> why it cannot be graded


@dataclass
class Intake:
    students: dict[str, StudentFiles] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    needs_a_look: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------- ids


def student_id(name: str) -> str:
    """A stable, non-empty, file-system-safe id for an original folder or file name.

    A name made only of ``A-Z a-z 0-9 _ . @ -`` is its own id. Any other name keeps its Latin
    letters (accents removed) and gets a short hash of the exact name, so that ``José`` and
    ``Jose``, or two names in another script, never share an id.
    """
    exact = unicodedata.normalize("NFC", name.strip())
    decomposed = unicodedata.normalize("NFKD", exact)
    latin = "".join(c for c in decomposed if not unicodedata.combining(c)).encode("ascii", "ignore").decode()
    cleaned = UNSAFE.sub("_", latin).strip("._-")
    if cleaned == exact and cleaned:
        return cleaned
    digest = hashlib.sha256(exact.encode("utf-8")).hexdigest()[:8]
    return f"{cleaned or 'student'}-{digest}"


# --------------------------------------------------------------------------- archives


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


def _entries(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name not in IGNORED_PARTS and not p.name.startswith("."))


def match_assignment(file_name: str, assignments: list[str]) -> str | None:
    stem = Path(file_name).stem
    if stem in assignments:
        return stem
    contained = [a for a in assignments if a in file_name]
    # "01_transformer" inside "01_transformer_v2": prefer the longest name that fits.
    return max(contained, key=len) if contained else None


# --------------------------------------------------------------------------- layouts


def _looks_like_class(folder: Path, from_zip: bool) -> bool:
    """A folder that holds several students, not one student's work.

    LMS-named entries always mean a class. Inside a class zip, a folder with two or more folders
    or zips is one too (a zip of the class usually wraps it in one folder). In a folder handed to
    ``autograde`` directly, a single student folder with two subfolders stays one student (two
    attempts, reported as such), rather than becoming two students.
    """
    entries = _entries(folder)
    if any(CANVAS_FILE.match(e.name) or MOODLE_ENTRY.match(e.name) for e in entries):
        return True
    branches = [e for e in entries if e.is_dir() or e.suffix.lower() == ".zip"]
    return from_zip and len(branches) >= 2


def _class_root(folder: Path, from_zip: bool) -> Path:
    """Look through wrapping folders to the students."""
    while True:
        entries = _entries(folder)
        folders = [e for e in entries if e.is_dir()]
        if len(folders) == 1 and len(entries) == 1 and _looks_like_class(folders[0], from_zip):
            folder = folders[0]
            continue
        return folder


@dataclass
class _Source:
    """One thing found at the class root, before ids are given out."""

    key: tuple[str, str]  # (layout, identity) entries with the same key belong to one student
    original: str
    layout: str
    name: str
    lms_id: str
    paths: list[tuple[Path, str]]  # (folder or notebook, origin text)


def _classify(entry: Path, assignments: list[str]) -> _Source | str:
    """What one entry at the class root is; a string says why it cannot be attributed."""
    canvas = CANVAS_FILE.match(entry.name) if entry.is_file() else None
    moodle = MOODLE_ENTRY.match(entry.name)
    if canvas:
        return _Source(("canvas", canvas["uid"]), f"{canvas['name']}_{canvas['uid']}", "canvas", canvas["name"],
                       canvas["uid"], [(entry, entry.name)])
    if moodle:
        return _Source(("moodle", moodle["pid"]), f"{moodle['name']}_{moodle['pid']}", "moodle", moodle["name"],
                       moodle["pid"], [(entry, entry.name)])
    if entry.is_dir():
        return _Source(("folder", unicodedata.normalize("NFC", entry.name)), entry.name, "folder", entry.name, "",
                       [(entry, entry.name)])
    if entry.suffix.lower() == ".zip":
        return _Source(("zip", unicodedata.normalize("NFC", entry.stem)), entry.stem, "zip", entry.stem, "",
                       [(entry, entry.name)])
    if entry.suffix.lower() == ".ipynb":
        assignment = match_assignment(entry.name, assignments)
        owner = entry.stem
        if assignment:
            owner = owner.replace(assignment, " ")
        owner = re.sub(r"\(\d+\)", " ", owner).strip(" _-.")
        if not owner:
            return (f"{entry.name} is a loose notebook with no student name in it: put it in a folder named by the "
                    "student and grade again")
        return _Source(("loose", unicodedata.normalize("NFC", owner)), owner, "loose", owner, "",
                       [(entry, entry.name)])
    return f"{entry.name}: neither a student folder, a zip nor a notebook; ignored"


def _gather(root: Path, assignments: list[str], intake: Intake) -> list[_Source]:
    sources: dict[tuple[str, str], _Source] = {}
    for entry in _entries(root):
        found = _classify(entry, assignments)
        if isinstance(found, str):
            (intake.needs_a_look if entry.suffix.lower() == ".ipynb" else intake.warnings).append(found)
            continue
        if found.key in sources:
            sources[found.key].paths += found.paths
        else:
            sources[found.key] = found
    return list(sources.values())


# --------------------------------------------------------------------------- one student's notebooks


def _assign_notebooks(files: StudentFiles, folder: Path, assignments: list[str], warnings: list[str],
                      found: dict[str, list[tuple[Path, str]]]) -> None:
    candidates = [folder] if folder.is_file() else [n for n in sorted(folder.rglob("*.ipynb")) if _visible(n, folder)]
    for notebook in candidates:
        assignment = match_assignment(notebook.name, assignments)
        shown = notebook.name if folder.is_file() else str(notebook.relative_to(folder))
        if assignment is None:
            warnings.append(f"{files.origin}: {shown} matches no assignment; not graded.")
            continue
        found.setdefault(assignment, []).append((notebook, shown))


def _choose(files: StudentFiles, found: dict[str, list[tuple[Path, str]]], intake: Intake) -> None:
    for assignment, notebooks in found.items():
        exact = [(n, s) for n, s in notebooks if n.stem == assignment or n.name.endswith(f"_{assignment}.ipynb")]
        chosen = exact if len(exact) == 1 else notebooks
        if len(chosen) == 1:
            files.notebooks[assignment] = chosen[0][0]
        else:
            names = ", ".join(s for _, s in chosen)
            files.problems[assignment] = f"several notebooks for {assignment} ({names}); keep one and grade again"
            intake.needs_a_look.append(f"{files.student} ({files.origin}): {files.problems[assignment]}")


def _open(source: _Source, scratch: Path, sid: str, intake: Intake) -> list[Path]:
    """The folders and notebooks of one student, zips extracted under ``scratch``."""
    opened = []
    for number, (path, origin) in enumerate(source.paths):
        if path.is_file() and path.suffix.lower() == ".zip":
            folder = scratch / "students" / sid / str(number)
            if folder.exists():
                shutil.rmtree(folder)
            folder.mkdir(parents=True)
            try:
                for name in safe_extract(path, folder):
                    intake.warnings.append(f"{origin}: skipped {name} (it points outside the archive).")
            except IntakeError as exc:
                intake.needs_a_look.append(f"{sid} ({origin}): {exc} Not graded.")
                continue
            opened.append(folder)
        else:
            opened.append(path)
    return opened


def _inner_zips(files: StudentFiles, folders: list[Path], scratch: Path, assignments: list[str],
                intake: Intake, found: dict[str, list[tuple[Path, str]]]) -> None:
    """A zip inside a student's folder (an LMS upload of a zipped notebook): look inside it too."""
    for folder in folders:
        if not folder.is_dir():
            continue
        for inner in sorted(folder.rglob("*.zip")):
            if not _visible(inner, folder):
                continue
            unpacked = scratch / "inner" / files.student / f"{len(found)}-{inner.stem}"
            unpacked.mkdir(parents=True, exist_ok=True)
            try:
                safe_extract(inner, unpacked)
            except IntakeError as exc:
                intake.warnings.append(f"{files.origin}: {exc}")
                continue
            _assign_notebooks(files, unpacked, assignments, intake.warnings, found)


# --------------------------------------------------------------------------- the class


def _unique_id(source: _Source, taken: dict[str, StudentFiles], intake: Intake) -> str:
    sid = student_id(source.original)
    if sid not in taken:
        return sid
    # Same id from two different entries (``alice/`` and ``alice.zip``): both are graded, apart.
    alternative = student_id(f"{source.original}.{source.layout}")
    counter = 2
    while alternative in taken:
        alternative = student_id(f"{source.original}.{source.layout}.{counter}")
        counter += 1
    intake.needs_a_look.append(
        f"{source.paths[0][1]} and {taken[sid].origin} may be the same student; graded apart as "
        f"{alternative!r} and {sid!r}: merge by hand if they are")
    return alternative


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
    root = _class_root(root, from_zip=submissions.is_file())
    for source in _gather(root, assignments, intake):
        sid = _unique_id(source, intake.students, intake)
        origin = "; ".join(origin for _, origin in source.paths)
        files = StudentFiles(sid, origin, source.layout, source.lms_id, source.name)
        opened = _open(source, scratch, sid, intake)
        found: dict[str, list[tuple[Path, str]]] = {}
        for folder in opened:
            _assign_notebooks(files, folder, assignments, intake.warnings, found)
        _inner_zips(files, opened, scratch, assignments, intake, found)
        _choose(files, found, intake)
        if not files.notebooks and not files.problems:
            intake.needs_a_look.append(f"{sid} ({origin}): no notebook for any assignment was found")
        intake.students[sid] = files
    if not intake.students:
        raise IntakeError(
            f"No student submissions found in {submissions}: expected one folder or zip per student"
            + (f" ({'; '.join((intake.needs_a_look + intake.warnings)[:3])})" if intake.warnings or intake.needs_a_look
               else "") + "."
        )
    return intake


def write_id_map(intake: Intake, path: Path) -> None:
    """id, original name(s), layout, LMS id, name: how every output's id maps back to what was handed in."""
    import csv

    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "original", "layout", "lms_id", "name"])
        for sid in sorted(intake.students):
            files = intake.students[sid]
            writer.writerow([sid, files.origin, files.layout, files.lms_id, files.name])
