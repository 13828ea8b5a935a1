"""Input pinning: the files a study reads are fixed when it starts.

A relative ``dataset.path`` (or ``model: ./dir``, or a serving trace) would be resolved
against whatever directory ``llem run --resume`` is started from, and a resume would
measure other prompts under the same experiment ids. So at the start of a study every
local input of every experiment is made absolute (against the directory the study was
started in) *before* experiments are hashed, and recorded in the manifest as a ``Pin``:
the field, the value as written, the absolute path and a content fingerprint. A resume
maps the stored config's values through the pins (so the experiments hash as they did)
and refuses to go on when a pinned file is missing or its content changed, naming it.

The fingerprint of a file is the SHA-256 of its content; a file over ``FULL_HASH_BYTES``
(model weights) is fingerprinted by its size and the SHA-256 of its first and last
``EDGE_BYTES``, so that pinning a 16 GB checkpoint costs milliseconds, not minutes. A
directory's fingerprint covers every file under it (relative path + the file's print).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from llem.config.schema import ExperimentConfig, StudyConfig
from llem.errors import ConfigError

FULL_HASH_BYTES = 64 * 1024**2
EDGE_BYTES = 1024**2


@attrs.frozen
class Pin:
    """One local input: ``field`` (dotted) as ``written`` in the config, where it is."""

    field: str
    written: str
    path: str  # absolute
    fingerprint: str


def input_paths(cfg: ExperimentConfig) -> list[tuple[str, str]]:
    """(dotted field, value) of every local file or directory ``cfg`` reads: a JSONL
    dataset, a local model directory, a serving trace (``load.trace``, when the config
    has a ``load`` section)."""
    found = []
    if cfg.dataset.source == "jsonl" and cfg.dataset.path:
        found.append(("dataset.path", cfg.dataset.path))
    from llem.architectures.ids import model_kind

    if model_kind(cfg.model) == "local":
        found.append(("model", cfg.model))
    trace = getattr(getattr(cfg, "load", None), "trace", None)
    if isinstance(trace, str) and trace:
        found.append(("load.trace", trace))
    return found


def pin_study(study: StudyConfig) -> tuple[StudyConfig, tuple[Pin, ...]]:
    """``study`` with every local input made absolute, and the pins of those inputs."""
    pins: dict[tuple[str, str], Pin] = {}
    for cfg in study.experiments:
        for field, value in input_paths(cfg):
            if (field, value) not in pins:
                path = os.path.abspath(os.path.expanduser(value))
                pins[(field, value)] = Pin(field, value, path, fingerprint(Path(path)))
    return with_pins(study, pins.values()), tuple(pins.values())


def with_pins(study: StudyConfig, pins: Iterable[Pin]) -> StudyConfig:
    """``study`` with each input value replaced by the absolute path it was pinned to."""
    table = {(p.field, p.written): p.path for p in pins}
    if not table:
        return study
    experiments = tuple(_pinned(cfg, table) for cfg in study.experiments)
    return attrs.evolve(study, experiments=experiments)


def _pinned(cfg: ExperimentConfig, table: Mapping[tuple[str, str], str]) -> ExperimentConfig:
    for field, value in input_paths(cfg):
        path = table.get((field, value))
        if path is not None and path != value:
            cfg = _replace(cfg, field.split("."), path)
    return cfg


def _replace(obj: Any, parts: Sequence[str], value: str) -> Any:
    head, *rest = parts
    new = value if not rest else _replace(getattr(obj, head), rest, value)
    return attrs.evolve(obj, **{head: new})


def check_pins(pins: Iterable[Pin], run_dir: Path) -> None:
    """ConfigError naming every pinned input that is gone or whose content changed."""
    lines = []
    for pin in pins:
        where = f"{pin.field} {pin.written!r}" + (
            f" (pinned as {pin.path})" if pin.path != pin.written else ""
        )
        path = Path(pin.path)
        if not path.exists():
            lines.append(f"{where} no longer exists")
            continue
        now = fingerprint(path)
        if now != pin.fingerprint:
            lines.append(f"{where} changed since the study started ({pin.fingerprint} -> {now})")
    if lines:
        raise ConfigError(
            f"{run_dir} cannot be resumed: its inputs differ from those it started with, so "
            f"new results would not measure the same thing:\n  "
            + "\n  ".join(lines)
            + "\nRestore the file(s), or start a new study with `llem run`"
        )


def fingerprint(path: Path) -> str:
    """``sha256:<hex>`` of a file or a directory tree (see the module docstring)."""
    digest = hashlib.sha256()
    if path.is_dir():
        for file in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(file.relative_to(path).as_posix().encode("utf-8", "surrogateescape"))
            digest.update(_file_print(file).encode())
    elif path.is_file():
        digest.update(_file_print(path).encode())
    else:
        raise ConfigError(f"{path}: no such file or directory (an input of the study)")
    return f"sha256:{digest.hexdigest()[:32]}"


def _file_print(path: Path) -> str:
    size = path.stat().st_size
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        if size <= FULL_HASH_BYTES:
            for block in iter(lambda: fh.read(EDGE_BYTES), b""):
                digest.update(block)
        else:
            digest.update(fh.read(EDGE_BYTES))
            fh.seek(size - EDGE_BYTES)
            digest.update(fh.read(EDGE_BYTES))
    return f"{size}:{digest.hexdigest()}"
