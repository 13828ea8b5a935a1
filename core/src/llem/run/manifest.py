"""manifest.json: the study's checkpoint, rewritten atomically after every change.

It lists every planned experiment x cycle with its status (pending, running, done,
failed, interrupted), attempts and result file, plus what ``resume_study`` needs to
carry on: how the config was loaded (overrides, profile), the environment the study
started in and the pinned input files (``llem.run.pins``). A crash or a power cut at
any moment leaves either the previous or the new manifest on disk, never a torn one
(temp file + os.replace).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

import attrs

from llem.converter import converter
from llem.errors import ConfigError
from llem.run.pins import Pin

MANIFEST_NAME = "manifest.json"
MANIFEST_SCHEMA = 1

EntryStatus = Literal["pending", "running", "done", "failed", "interrupted"]
StudyStatus = Literal["running", "complete", "failed", "interrupted"]


@attrs.frozen
class Fingerprint:
    """What must match for results of a resumed study to be comparable."""

    llem_version: str
    gpu_models: tuple[str, ...]
    driver_version: str | None

    def differences(self, other: Fingerprint) -> tuple[str, ...]:
        """Human lines naming each field that differs from ``other`` (was -> now)."""
        out = []
        for field in attrs.fields(Fingerprint):
            was, now = getattr(self, field.name), getattr(other, field.name)
            if was != now:
                out.append(f"{field.name}: {_show(was)} -> {_show(now)}")
        return tuple(out)


def _show(value: object) -> str:
    if isinstance(value, tuple):
        return ", ".join(value) or "none"
    return "none" if value is None else str(value)


@attrs.frozen
class Invocation:
    """How config.yaml was turned into this study, so a resume rebuilds the same one."""

    source_path: str | None
    overrides: tuple[str, ...] = ()
    profile: str | None = None
    started_in: str | None = None  # the working directory: relative inputs resolve there


@attrs.frozen
class Resumption:
    at: str
    environment: Fingerprint
    differences: tuple[str, ...] = ()


@attrs.frozen
class ManifestEntry:
    id: str  # f"{config_hash}-c{cycle}"
    config_hash: str
    config_index: int  # into the study's experiments, in config.yaml order
    cycle: int
    gap_before: Literal["config", "cycle"] | None = None
    name: str | None = None
    status: EntryStatus = "pending"
    attempts: int = 0
    result: str | None = None  # result.json, relative to the run directory
    started_at: str | None = None
    ended_at: str | None = None
    duration_s: float | None = None
    error: str | None = None  # the last failure, one line


@attrs.frozen
class Manifest:
    study: str
    created_at: str
    updated_at: str
    status: StudyStatus
    order: str
    seed: int
    cycles: int
    invocation: Invocation
    environment: Fingerprint
    entries: tuple[ManifestEntry, ...]
    resumptions: tuple[Resumption, ...] = ()
    pins: tuple[Pin, ...] = ()  # local inputs: llem.run.pins
    schema_version: int = MANIFEST_SCHEMA

    def entry(self, entry_id: str) -> ManifestEntry:
        for e in self.entries:
            if e.id == entry_id:
                return e
        raise KeyError(entry_id)

    def update(self, entry_id: str, now: str, **changes: Any) -> Manifest:
        """A copy with the entry ``entry_id`` changed."""
        entries = tuple(attrs.evolve(e, **changes) if e.id == entry_id else e for e in self.entries)
        return attrs.evolve(self, entries=entries, updated_at=now)

    def counts(self) -> dict[str, int]:
        out = {s: 0 for s in ("pending", "running", "done", "failed", "interrupted")}
        for e in self.entries:
            out[e.status] += 1
        return out

    @property
    def finished(self) -> bool:
        return all(e.status == "done" for e in self.entries)


def write_manifest(run_dir: Path, manifest: Manifest) -> None:
    from llem.results.io import write_json_atomic

    write_json_atomic(Path(run_dir) / MANIFEST_NAME, converter.unstructure(manifest))


def read_manifest(run_dir: Path) -> Manifest:
    """The manifest of ``run_dir``, or a ConfigError saying why it cannot be resumed."""
    path = Path(run_dir) / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(
            f"{path} does not exist: {run_dir} is not a llem run directory (or the study "
            f"stopped before its first checkpoint); start it again with `llem run CONFIG`"
        ) from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc}); the run cannot be resumed") from None
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version != MANIFEST_SCHEMA:
        raise ConfigError(
            f"{path} has manifest schema {version!r}, this llem reads {MANIFEST_SCHEMA}; "
            f"resume it with the llem version that started it"
        )
    try:
        return converter.structure(data, Manifest)
    except Exception as exc:  # cattrs raises class groups; one line is enough here
        raise ConfigError(
            f"{path} is not a valid manifest ({exc}); the run cannot be resumed"
        ) from None
