"""Per-student totals and the files an LMS imports (Canvas gradebook CSV, Moodle grading worksheet).

With a roster (a Canvas gradebook export, a Moodle grading worksheet, or any CSV with an ``id``
column), every student on it gets a row; the ones who handed in nothing are listed as missing
(their grade is left empty, for you to decide). A submission is matched to a roster row only by
an exact id (LMS user id, login, e-mail or the id Circuit Lab gave it), never by a guessed name;
a submission that matches no row, or several, is listed under "needs a look".
"""
from __future__ import annotations

import csv
import unicodedata
from pathlib import Path
from typing import Any

TOTAL_COLUMNS = ("student", "assignment", "score", "max_score", "status", "exercises", "needs_a_look")
COMPLETE = "complete"
NEEDS_A_LOOK = "needs a look"
NOT_SUBMITTED = "not submitted"
OVERALL = "overall"
CANVAS_IDENTITY = ("Student", "ID", "SIS User ID", "SIS Login ID", "Section")
ROSTER_KEYS = ("id", "student", "student_id", "sis user id", "sis login id", "login", "username", "email",
               "email address", "identifier")


def totals(rows: list[dict[str, str]], students: dict[str, Any], assignments: dict[str, Any]) -> list[dict[str, str]]:
    """One row per student and assignment, and one overall row per student."""
    out = []
    for student in sorted(students):
        overall = {"score": 0.0, "max": 0.0, "look": 0, "count": 0, "submitted": False}
        for name in assignments:
            mine = [r for r in rows if r["student"] == student and r["assignment"] == name]
            score = sum(float(r["score"]) for r in mine if r["score"])
            maximum = sum(float(r["max_score"]) for r in mine)
            look = [r for r in mine if r["status"] not in ("graded", NOT_SUBMITTED)]
            if all(r["status"] == NOT_SUBMITTED for r in mine):
                status = NOT_SUBMITTED
            else:
                status = NEEDS_A_LOOK if look else COMPLETE
                overall["submitted"] = True
            out.append({"student": student, "assignment": name, "score": f"{score:g}", "max_score": f"{maximum:g}",
                        "status": status, "exercises": str(len(mine)), "needs_a_look": str(len(look))})
            overall["score"] += score
            overall["max"] += maximum
            overall["look"] += len(look)
            overall["count"] += len(mine)
        status = NOT_SUBMITTED if not overall["submitted"] else (NEEDS_A_LOOK if overall["look"] else COMPLETE)
        out.append({"student": student, "assignment": OVERALL, "score": f"{overall['score']:g}",
                    "max_score": f"{overall['max']:g}", "status": status, "exercises": str(overall["count"]),
                    "needs_a_look": str(overall["look"])})
    return out


# --------------------------------------------------------------------------- roster


def read_roster(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = [dict(r) for r in csv.DictReader(handle)]
    # Canvas exports carry a "Points Possible" row under the header.
    return [r for r in rows if "points possible" not in str(r.get("Student", "")).strip().lower()]


def _norm(text: str) -> str:
    return unicodedata.normalize("NFC", str(text).strip()).casefold()


def roster_keys(row: dict[str, str]) -> set[str]:
    keys = set()
    for column, value in row.items():
        if column is None or not value or _norm(column) not in ROSTER_KEYS:
            continue
        value = str(value).strip()
        if _norm(column) == "identifier":
            value = value.removeprefix("Participant").strip()
        if _norm(column) == "student" and "," in value:
            continue  # "Last, First": a name, not an id
        keys.add(_norm(value))
    return keys


def student_keys(files: Any) -> set[str]:
    keys = {_norm(files.student)}
    if files.lms_id:
        keys.add(_norm(files.lms_id))
    if files.layout in ("folder", "zip", "loose"):
        keys.add(_norm(files.name))
    return {k for k in keys if k}


def match_roster(roster: list[dict[str, str]], students: dict[str, Any],
                 needs_a_look: list[str]) -> tuple[dict[int, str], list[int]]:
    """Roster row index -> student id, and the indices of rows with no submission."""
    matched: dict[int, str] = {}
    claimed: dict[str, list[int]] = {}
    for index, row in enumerate(roster):
        keys = roster_keys(row)
        hits = [sid for sid, files in students.items() if keys & student_keys(files)]
        if len(hits) == 1:
            matched[index] = hits[0]
            claimed.setdefault(hits[0], []).append(index)
        elif len(hits) > 1:
            needs_a_look.append(f"roster row {index + 2} matches several submissions ({', '.join(hits)}); "
                                "none was entered for it")
    for sid, indices in claimed.items():
        if len(indices) > 1:
            needs_a_look.append(f"{sid} matches several roster rows ({', '.join(str(i + 2) for i in indices)}); "
                                "entered for none")
            for index in indices:
                matched.pop(index, None)
    for sid in sorted(set(students) - set(matched.values())):
        needs_a_look.append(f"{sid} ({students[sid].origin}) is not on the roster; not in the LMS files")
    missing = [i for i in range(len(roster)) if i not in matched]
    return matched, missing


# --------------------------------------------------------------------------- LMS files


def _scores(total_rows: list[dict[str, str]]) -> dict[tuple[str, str], dict[str, str]]:
    return {(r["student"], r["assignment"]): r for r in total_rows}


def _grade_text(row: dict[str, str] | None) -> str:
    if row is None or row["status"] == NOT_SUBMITTED:
        return ""
    return row["score"]


def write_lms_files(total_rows: list[dict[str, str]], students: dict[str, Any], assignments: dict[str, Any],
                    out_dir: Path, roster: list[dict[str, str]] | None, needs_a_look: list[str]) -> list[str]:
    """gradebook_canvas.csv and gradebook_moodle_<assignment>.csv; returns the missing students."""
    scores = _scores(total_rows)
    maxima = {name: next((r["max_score"] for r in total_rows if r["assignment"] == name), "0") for name in assignments}
    entries: list[tuple[dict[str, str], str | None]] = []  # (identity, student id or None)
    missing: list[str] = []
    if roster is None:
        for sid in sorted(students):
            entries.append((_identity_from_submission(students[sid]), sid))
    else:
        matched, absent = match_roster(roster, students, needs_a_look)
        for index, row in enumerate(roster):
            entries.append((_identity_from_roster(row), matched.get(index)))
        missing = [_display(roster[i]) for i in absent]
    _write_canvas(entries, scores, assignments, maxima, out_dir / "gradebook_canvas.csv")
    for name in assignments:
        _write_moodle(entries, scores, name, maxima[name], out_dir / f"gradebook_moodle_{name}.csv")
    return missing


def _identity_from_submission(files: Any) -> dict[str, str]:
    return {"Student": files.name or files.student, "ID": files.lms_id if files.layout == "canvas" else "",
            "SIS User ID": "", "SIS Login ID": files.student, "Section": "",
            "Identifier": f"Participant {files.lms_id}" if files.layout == "moodle" else files.student,
            "Full name": files.name or files.student, "Email address": ""}


def _identity_from_roster(row: dict[str, str]) -> dict[str, str]:
    lowered = {_norm(k): v for k, v in row.items() if k}
    name = row.get("Student") or row.get("Full name") or lowered.get("name") or lowered.get("id") or ""
    identity = {column: row.get(column, "") for column in CANVAS_IDENTITY}
    identity["Student"] = name
    if not identity["SIS Login ID"] and not identity["ID"]:
        identity["SIS Login ID"] = lowered.get("id", "") or lowered.get("login", "")
    identity["Identifier"] = row.get("Identifier") or lowered.get("id", "")
    identity["Full name"] = row.get("Full name") or name
    identity["Email address"] = row.get("Email address") or lowered.get("email", "")
    return identity


def _display(row: dict[str, str]) -> str:
    identity = _identity_from_roster(row)
    return " / ".join(v for v in (identity["Student"], identity["Identifier"], identity["Email address"]) if v)


def _write_canvas(entries, scores, assignments, maxima, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow([*CANVAS_IDENTITY, *assignments])
        writer.writerow(["    Points Possible", "", "", "", "", *(maxima[a] for a in assignments)])
        for identity, sid in entries:
            grades = [_grade_text(scores.get((sid, a))) if sid else "" for a in assignments]
            writer.writerow([identity[c] for c in CANVAS_IDENTITY] + grades)


def _write_moodle(entries, scores, assignment: str, maximum: str, path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Identifier", "Full name", "Email address", "Grade", "Maximum Grade", "Feedback comments"])
        for identity, sid in entries:
            row = scores.get((sid, assignment)) if sid else None
            comment = "" if row is None else row["status"]
            writer.writerow([identity["Identifier"], identity["Full name"], identity["Email address"],
                             _grade_text(row), maximum, comment])
