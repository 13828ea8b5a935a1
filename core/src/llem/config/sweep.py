"""Sweeps: ``sweep:`` maps dotted keys to lists of values; the study is the grid.

``sweep: {precision: [fp16, bf16], pytorch.batch_size: [1, 8, 32]}`` varies every
listed key over the cartesian product. A key under a backend's section
(``pytorch.*``, ``vllm.*``) is scoped to that backend: it multiplies only experiments
whose backend is that one, so sweeping ``backend: [pytorch, vllm]`` with
``pytorch.batch_size: [1, 8]`` gives 2 pytorch experiments and 1 vllm experiment, not 4.
Combined with ``experiments:``, every entry is crossed with the grid (the sweep value
wins over the entry's value for the same key). Identical resolved experiments collapse
to the first (the loader does that, by config hash).

``execution``, ``output`` and ``name`` apply to the whole study and cannot be swept.

A study plans at most ``max_runs()`` runs (experiments x cycles; 10,000 unless
``LLEM_MAX_RUNS`` says otherwise): the grid is counted before it is expanded
(``grid_size``), so a 10^7-point sweep is refused at once instead of running for hours.
"""

from __future__ import annotations

import itertools
import math
import os
from collections.abc import Iterator, Sequence
from typing import Any

import attrs

from llem.config.catalog import Catalog
from llem.config.document import Document, Location, Path
from llem.errors import ConfigError

MAX_RUNS_ENV = "LLEM_MAX_RUNS"
DEFAULT_MAX_RUNS = 10_000

NOT_SWEEPABLE = ("execution", "output", "name", "sweep", "experiments")


@attrs.frozen
class Axis:
    """One swept key: its values, and where the list was written."""

    key: str  # dotted, as written
    target: Path  # path in the experiment data
    values: tuple[Any, ...]
    doc: Document
    doc_path: Path  # path of the list in ``doc``
    backend: str | None  # scoped to experiments of this backend, or None (all)


def parse_axes(sweep: Any, doc: Document, doc_path: Path, catalog: Catalog) -> list[Axis]:
    """The axes of a ``sweep:`` mapping, or ConfigError naming the line at fault."""
    if sweep is None:
        return []
    if not isinstance(sweep, dict):
        raise ConfigError(
            f"{doc.locate(doc_path)}: sweep: expected a mapping of dotted "
            f"keys to lists of values, got {sweep!r}"
        )
    axes = []
    for key, values in sweep.items():
        path = doc_path + (key,)
        target = tuple(key.split("."))
        if not all(target):
            raise ConfigError(
                f"{doc.locate(path, key=True)}: sweep: {key!r} is not a "
                "dotted key (like pytorch.batch_size)"
            )
        head = target[0]
        if head in NOT_SWEEPABLE:
            raise ConfigError(
                f"{doc.locate(path, key=True)}: sweep: {key!r} cannot be "
                f"swept: {head} applies to the whole study"
            )
        problem = catalog.top_level_problem(head, study=False)
        if problem is not None:
            raise ConfigError(f"{doc.locate(path, key=True)}: sweep: {key}: {problem}")
        if not isinstance(values, list) or not values:
            raise ConfigError(
                f"{doc.locate(path)}: sweep: {key}: expected a non-empty "
                f"list of values, got {values!r}"
            )
        backend = head if len(target) > 1 and catalog.is_backend(head) else None
        axes.append(Axis(key, target, tuple(values), doc, path, backend))
    return axes


def general_axes(axes: Sequence[Axis]) -> list[Axis]:
    return [a for a in axes if a.backend is None]


def scoped_axes(axes: Sequence[Axis], backend: str) -> list[Axis]:
    return [a for a in axes if a.backend == backend]


def points(axes: Sequence[Axis]) -> Iterator[tuple[tuple[Axis, int], ...]]:
    """Every point of the grid of ``axes`` (first axis slowest), as (axis, value index)."""
    for idx in itertools.product(*(range(len(a.values)) for a in axes)):
        yield tuple(zip(axes, idx, strict=True))


def value_location(axis: Axis, index: int) -> Location:
    return axis.doc.locate(axis.doc_path + (index,))


def grid_size(axes: Sequence[Axis], backends: Sequence[Any]) -> int:
    """How many experiments one entry becomes under ``axes`` (before identical ones
    collapse), counted without expanding the grid. ``backends``: the backend of the
    entry, or the values of a swept ``backend`` axis (a scoped axis multiplies only its
    backend's experiments)."""
    general = [a for a in general_axes(axes) if a.target != ("backend",)]
    per_backend = sum(
        math.prod(len(a.values) for a in scoped_axes(axes, b)) if isinstance(b, str) else 1
        for b in backends
    )
    return math.prod(len(a.values) for a in general) * per_backend


def max_runs() -> int:
    """The most runs (experiments x cycles) a study may plan: ``LLEM_MAX_RUNS`` or 10,000."""
    raw = os.environ.get(MAX_RUNS_ENV)
    if raw is None:
        return DEFAULT_MAX_RUNS
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise ConfigError(f"{MAX_RUNS_ENV}={raw!r}: expected a whole number >= 1")
    return value
