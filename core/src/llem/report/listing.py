"""``llem results list``: the run directories under a folder, with their status.

A run directory is any folder holding manifest.json or study.json (searched up to
three levels down, so ``results/`` and ``results/<group>/`` both work). Counts come
from the manifest (every planned experiment x cycle); a run directory without one
(copied without it) counts its results instead.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs

from llem.errors import ConfigError

MARKERS = ("manifest.json", "study.json")
MAX_DEPTH = 3


@attrs.frozen
class StudyEntry:
    run_dir: Path
    name: str
    status: str
    created_at: str | None
    updated_at: str | None
    done: int
    failed: int
    pending: int  # pending, running or interrupted


def find_run_dirs(root: Path) -> list[Path]:
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root} is not a directory; give the folder that holds run directories")
    return sorted(_walk(root, 0), key=lambda p: str(p))


def _walk(folder: Path, depth: int) -> Iterator[Path]:
    if any((folder / m).exists() for m in MARKERS):
        yield folder
        return
    if depth >= MAX_DEPTH:
        return
    for child in folder.iterdir():
        if child.is_dir() and not child.name.startswith("."):
            yield from _walk(child, depth + 1)


def list_studies(root: Path) -> list[StudyEntry]:
    return [describe(d) for d in find_run_dirs(root)]


def describe(run_dir: Path) -> StudyEntry:
    manifest = _json(run_dir / "manifest.json")
    if manifest:
        counts = {"done": 0, "failed": 0, "other": 0}
        for e in manifest.get("entries") or ():
            status = e.get("status")
            counts[status if status in ("done", "failed") else "other"] += 1
        return StudyEntry(
            run_dir,
            str(manifest.get("study") or run_dir.name),
            str(manifest.get("status") or "unknown"),
            manifest.get("created_at"),
            manifest.get("updated_at"),
            counts["done"],
            counts["failed"],
            counts["other"],
        )
    study = _json(run_dir / "study.json") or {}
    experiments = study.get("experiments") or ()
    failed = sum(1 for e in experiments if e.get("status") != "ok")
    return StudyEntry(
        run_dir,
        str(study.get("name") or run_dir.name),
        str(study.get("status") or "unknown"),
        study.get("started_at"),
        study.get("ended_at"),
        len(experiments) - failed,
        failed,
        0,
    )


def _json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def rich_listing(entries: list[StudyEntry], root: Path) -> object:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=escape(f"run directories under {root}"))
    for h in (
        "run directory",
        "study",
        "status",
        "done",
        "failed",
        "pending",
        "started",
        "updated",
    ):
        table.add_column(h, justify="right" if h in ("done", "failed", "pending") else "left")
    for e in entries:
        table.add_row(
            escape(_relative(e.run_dir, root)),
            escape(e.name),
            escape(e.status),
            str(e.done),
            str(e.failed),
            str(e.pending),
            escape(e.created_at or "–"),
            escape(e.updated_at or "–"),
        )
    return table


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root)) or "."
    except ValueError:
        return str(path)
