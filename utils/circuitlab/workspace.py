"""The learner's own copies of the chapters (``make workspace``, ``make lab``).

Learners work in ``workspace/`` (git-ignored), never in ``chapters/``: ``make notebooks``
rewrites ``chapters/`` and ``git pull`` updates it, so an edit made there could be lost.
This module copies each chapter notebook into the workspace **only if no file of that name
is there yet**. An existing file is never overwritten, truncated or renamed, whatever it
contains. When a chapter has been updated since the learner's copy was made, the learner is
told, and told how to get the new version without losing the old one.

Usage: ``python -m circuitlab.workspace [--chapters DIR] [--into DIR]``.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Records the hash of each chapter at the moment it was copied, so that a later run can
# tell "the chapter changed upstream" apart from "the learner edited their copy".
MANIFEST_NAME = ".circuitlab-copies.json"
EXIT_OK, EXIT_USAGE = 0, 2


class WorkspaceError(Exception):
    """Bad input (a missing chapters folder, a workspace path that is a file): one clear line, exit 2."""


@dataclass
class WorkspaceReport:
    copied: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    updated_upstream: list[str] = field(default_factory=list)  # kept, but the chapter has changed since

    def lines(self, chapters_dir: Path, workspace_dir: Path) -> list[str]:
        out: list[str] = []
        if self.copied:
            out.append(f"Copied {len(self.copied)} chapter notebook(s) into {workspace_dir}/:")
            out += [f"  + {name}" for name in self.copied]
        if self.kept:
            out.append(f"Kept {len(self.kept)} notebook(s) you already have in {workspace_dir}/ (never overwritten):")
            for name in self.kept:
                note = "  (the chapter has been updated since you copied it)" if name in self.updated_upstream else ""
                out.append(f"  = {name}{note}")
        if self.updated_upstream:
            out.append(
                f"To get an updated chapter, rename your copy (for example to NN_slug.mine.ipynb) and run "
                f"`make workspace` again; the new version is also readable in {chapters_dir}/."
            )
        if not self.copied and not self.kept:
            out.append(f"No chapter notebooks found in {chapters_dir}/.")
        return out


def default_root() -> Path:
    """The repository holding ``chapters/``: the current directory if it has one, else the checkout
    the package was installed from (editable install)."""
    here = Path.cwd()
    if (here / "chapters").is_dir():
        return here
    package_dir = Path(__file__).resolve().parent
    for parent in package_dir.parents:
        if (parent / "chapters").is_dir() and (parent / "pyproject.toml").is_file():
            return parent
    return here


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_manifest(workspace_dir: Path) -> dict[str, str]:
    try:
        data = json.loads((workspace_dir / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # no manifest, or an unreadable one: only the "updated since" note is lost
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(data, dict) else {}


def _write_manifest(workspace_dir: Path, manifest: dict[str, str]) -> None:
    temporary = workspace_dir / (MANIFEST_NAME + ".tmp")
    temporary.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(temporary, workspace_dir / MANIFEST_NAME)


def _copy_if_absent(source: Path, target: Path) -> bool:
    """Copy ``source`` to ``target`` unless ``target`` exists. Exclusive creation ('x' mode) makes
    the check and the write one step, so a file that appears in between is still not overwritten."""
    data = source.read_bytes()
    try:
        with open(target, "xb") as handle:
            handle.write(data)
    except FileExistsError:
        return False
    return True


def make_workspace(chapters_dir: Path, workspace_dir: Path) -> WorkspaceReport:
    """Copy every ``chapters_dir/*.ipynb`` into ``workspace_dir`` unless a file of that name exists."""
    if not chapters_dir.is_dir():
        raise WorkspaceError(f"No chapters folder at {chapters_dir}: run this from the repository (or pass --chapters).")
    if workspace_dir.exists() and not workspace_dir.is_dir():
        raise WorkspaceError(f"{workspace_dir} exists and is not a folder; move it away (nothing was changed).")
    workspace_dir.mkdir(parents=True, exist_ok=True)
    manifest = _read_manifest(workspace_dir)
    report = WorkspaceReport()
    for source in sorted(chapters_dir.glob("*.ipynb")):
        target = workspace_dir / source.name
        current = _digest(source)
        if _copy_if_absent(source, target):
            report.copied.append(source.name)
            manifest[source.name] = current
            continue
        report.kept.append(source.name)
        copied_from = manifest.get(source.name)
        if copied_from is not None and copied_from != current:
            report.updated_upstream.append(source.name)
    _write_manifest(workspace_dir, manifest)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Copy the chapter notebooks into your workspace, never overwriting.")
    parser.add_argument("--chapters", type=Path, default=None, help="where the chapter notebooks are (default: chapters/)")
    parser.add_argument("--into", type=Path, default=None, help="your workspace folder (default: workspace/)")
    args = parser.parse_args(argv)
    root = default_root()
    chapters_dir = args.chapters or root / "chapters"
    workspace_dir = args.into or root / "workspace"
    try:
        report = make_workspace(chapters_dir, workspace_dir)
    except (WorkspaceError, OSError) as exc:  # e.g. a read-only folder: say so, change nothing more
        print(f"workspace: {exc}", file=sys.stderr)
        return EXIT_USAGE
    print("\n".join(report.lines(chapters_dir, workspace_dir)))
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
