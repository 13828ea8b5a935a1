"""Config file (or command-line flags) -> a resolved, validated StudyConfig.

A single experiment is a study of one. Layers, lowest precedence first: the user config
(llem.config.user), the file's top-level keys, one ``experiments:`` entry, one point of
the ``sweep:`` grid, the ``--profile``, the ``--set`` overrides. Every resolved
experiment is validated; identical ones collapse to the first. Any problem is a
ConfigError whose lines name file:line:column, the key path, what was expected and,
for near misses, a did-you-mean -- never another exception.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from llem.architectures import model_slug
from llem.config.build import Builder, structure_into
from llem.config.catalog import DEFAULT_BACKEND, STUDY_KEYS, Catalog
from llem.config.document import Document, parse_yaml, surrogate_problem
from llem.config.identity import config_hash
from llem.config.inputs import input_issues
from llem.config.layers import Mount, Origins, copy_tree, merge_into, set_path
from llem.config.overrides import Override, experiment_layer, parse_overrides
from llem.config.problems import Issue, render_all
from llem.config.profiles import apply_profile, check_profile
from llem.config.schema import ExecutionConfig, ExperimentConfig, OutputConfig, StudyConfig
from llem.config.sweep import (
    MAX_RUNS_ENV,
    Axis,
    general_axes,
    grid_size,
    max_runs,
    parse_axes,
    points,
    scoped_axes,
)
from llem.config.user import load_user_config
from llem.errors import ConfigError

STUDY_ONLY = ("sweep", "experiments", "name")


def load_config(
    path: str | os.PathLike[str], overrides: Sequence[str] = (), profile: str | None = None
) -> StudyConfig:
    """Load the YAML config at ``path`` with ``--set`` ``overrides`` and a profile."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(
            f"{p}: is a directory, not a config file (to resume a run directory use --resume)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{p}: cannot read the config: {exc}") from None
    doc = parse_yaml(text, str(p))
    return resolve(
        doc,
        text=text,
        source_path=str(p),
        default_name=p.stem,
        overrides=overrides,
        profile=profile,
    )


def loads(
    text: str, source: str = "<text>", overrides: Sequence[str] = (), profile: str | None = None
) -> StudyConfig:
    """Like ``load_config`` for YAML ``text`` held in memory (named ``source``)."""
    doc = parse_yaml(text, source)
    name = Path(source).stem if source != "<text>" else "study"
    return resolve(
        doc,
        text=text,
        source_path=None,
        default_name=name or "study",
        overrides=overrides,
        profile=profile,
    )


def config_from_args(
    model: str | None,
    backend: str | None = None,
    overrides: Sequence[str] = (),
    profile: str | None = None,
) -> StudyConfig:
    """A study of one experiment from ``--model``/``--backend`` (no file). Its source
    text is the equivalent YAML, so the run directory can be resumed like any other."""
    if not model:
        raise ConfigError(
            "give a config file (llem run CONFIG) or a model "
            "(llem run --model MODEL [--backend BACKEND])"
        )
    data = {"model": model, **({"backend": backend} if backend else {})}
    for flag, value in data.items():
        problem = surrogate_problem(value)
        if problem:
            raise ConfigError(f"--{flag}: {problem}")
    text = "".join(f"{k}: {json.dumps(v)}\n" for k, v in data.items())
    doc = Document(data, "--model/--backend" if backend else "--model")
    name = model_slug(model)
    return resolve(
        doc,
        text=text,
        source_path=None,
        default_name=name or "experiment",
        overrides=overrides,
        profile=profile,
    )


def resolve(
    doc: Document,
    *,
    text: str | None,
    source_path: str | None,
    default_name: str,
    overrides: Sequence[str] = (),
    profile: str | None = None,
) -> StudyConfig:
    """The StudyConfig of a parsed document (see the module docstring)."""
    check_profile(profile)
    data = _top_mapping(doc)
    sets = parse_overrides(overrides)
    from llem.plugins import get_registry

    catalog = Catalog.from_registry(get_registry())
    user = load_user_config()
    entries = _entries(doc, sets)
    _check_keys(doc, user, entries, sets, catalog)
    axes = _axes(doc, sets, catalog)
    name = _study_name(doc, sets, default_name)
    set_layer = experiment_layer(sets)
    set_mounts = tuple(Mount((), o.doc) for o in sets if o.head not in STUDY_ONLY)
    base = {k: v for k, v in data.items() if k not in STUDY_ONLY}
    floor = [Mount((), user)] if user is not None else []
    execution, output = _study_sections(user, data, profile, set_layer, set_mounts, doc)
    starts = []
    for entry_doc, entry_path, entry in entries:
        start: dict[str, Any] = copy_tree(user.data) if user is not None else {}
        merge_into(merge_into(start, base), entry)
        starts.append((start, (*floor, Mount((), doc), Mount((), entry_doc, entry_path))))
    _check_size(doc, [s for s, _ in starts], axes, set_layer, execution)
    expander = _Expander(Builder.create(catalog), profile, set_layer, set_mounts)
    for start, mounts in starts:
        expander.expand(start, Origins(mounts), axes)
    experiments = expander.result()
    named = "name" in data or any(o.head == "name" for o in sets)
    if len(experiments) == 1 and experiments[0].name is None and named:
        experiments = [attrs.evolve(experiments[0], name=name)]
    return StudyConfig(
        name=name,
        experiments=tuple(experiments),
        execution=execution,
        output=output,
        source_path=source_path,
        source_text=text,
        overrides=tuple(overrides),
        profile=profile,
    )


@attrs.define
class _Expander:
    """Crosses entries with the sweep grid, validates, and drops duplicates."""

    builder: Builder
    profile: str | None
    set_layer: dict[str, Any]
    set_mounts: tuple[Mount, ...]
    experiments: list[ExperimentConfig] = attrs.Factory(list)
    hashes: set[str] = attrs.Factory(set)
    problems: list[str] = attrs.Factory(list)

    def expand(self, start: dict[str, Any], origins: Origins, axes: list[Axis]) -> None:
        for gpoint in points(general_axes(axes)):
            data = copy_tree(start)
            _apply_point(data, gpoint)
            backend = self.set_layer.get("backend", data.get("backend", DEFAULT_BACKEND))
            scoped = scoped_axes(axes, backend) if isinstance(backend, str) else []
            for spoint in points(scoped):
                one = copy_tree(data) if scoped else data
                _apply_point(one, spoint)
                self._add(one, origins.plus(*_point_mounts(gpoint + spoint), *self.set_mounts))

    def _add(self, data: dict[str, Any], origins: Origins) -> None:
        apply_profile(data, self.profile)
        merge_into(data, self.set_layer)
        built = self.builder.build(data, origins)
        if isinstance(built, list):
            self.problems.extend(built)
            return
        inputs = input_issues(built)  # dataset and local model: exit 2 now, not in the worker
        if inputs:
            self.problems.extend(dict.fromkeys(i.render(origins) for i in inputs))
            return
        h = config_hash(built)
        if h not in self.hashes:
            self.hashes.add(h)
            self.experiments.append(built)

    def result(self) -> list[ExperimentConfig]:
        if self.problems:
            raise ConfigError(render_all(self.problems, "the config has problems"))
        return self.experiments


def _check_size(
    doc: Document,
    starts: Sequence[dict[str, Any]],
    axes: Sequence[Axis],
    set_layer: dict[str, Any],
    execution: ExecutionConfig,
) -> None:
    """Refuse, before expanding the grid, a study that plans more than ``max_runs()``
    runs (experiments x cycles; ``cycles: auto`` counts its ``max_cycles``)."""
    swept = next((a for a in axes if a.target == ("backend",)), None)
    experiments = 0
    for start in starts:
        if "backend" in set_layer:
            backends: Sequence[Any] = (set_layer["backend"],)
        elif swept is not None:
            backends = swept.values
        else:
            backends = (start.get("backend", DEFAULT_BACKEND),)
        experiments += grid_size(axes, backends)
    cycles = execution.max_cycles if execution.cycles == "auto" else execution.cycles
    limit = max_runs()
    if experiments * cycles <= limit:
        return
    where = doc.locate(("sweep",) if axes else ("execution", "cycles"))
    raise ConfigError(
        f"{where}: the study plans {experiments * cycles:,} runs ({experiments:,} "
        f"experiment(s) x {cycles:,} cycle(s)), more than the limit of {limit:,} runs. "
        f"Shrink the sweep or execution.cycles, or raise the limit: "
        f"{MAX_RUNS_ENV}={experiments * cycles} llem run ..."
    )


def _apply_point(data: dict[str, Any], point: tuple[tuple[Axis, int], ...]) -> None:
    for axis, index in point:
        set_path(data, axis.target, axis.values[index])


def _point_mounts(point: tuple[tuple[Axis, int], ...]) -> list[Mount]:
    return [
        Mount(axis.target, axis.doc, axis.doc_path + (index,), axis.doc_path)
        for axis, index in point
    ]


def _top_mapping(doc: Document) -> dict[str, Any]:
    if doc.data is None:
        raise ConfigError(
            f"{doc.source}: the config is empty; it needs at least a model "
            "(model: builtin:tiny-llama)"
        )
    if not isinstance(doc.data, dict):
        raise ConfigError(
            f"{doc.locate(())}: a config is a mapping of keys (model:, "
            f"backend:, ...), got {type(doc.data).__name__}"
        )
    return doc.data


def _entries(doc: Document, sets: Sequence[Override]) -> list[tuple[Document, tuple, dict]]:
    """(document, path in it, data) of each ``experiments:`` entry, or one empty entry."""
    source, path, value = doc, ("experiments",), doc.data.get("experiments")
    present = "experiments" in doc.data
    for o in sets:
        if o.head == "experiments":
            if len(o.path) > 1:
                raise ConfigError(
                    f"{o.doc.source}: replace the whole list "
                    "(--set experiments=[...]), not part of it"
                )
            source, value, present = o.doc, o.value, True
    if not present:
        return [(doc, (), {})]
    if not isinstance(value, list) or not value:
        raise ConfigError(
            f"{source.locate(path)}: experiments: expected a non-empty list "
            f"of experiments (mappings of keys), got {value!r}"
        )
    entries = []
    for i, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise ConfigError(
                f"{source.locate(path + (i,))}: experiments[{i}]: expected a "
                f"mapping of keys, got {entry!r}"
            )
        entries.append((source, path + (i,), entry))
    return entries


def _check_keys(
    doc: Document, user: Document | None, entries: list, sets: Sequence[Override], catalog: Catalog
) -> None:
    """Every top-level key of every layer is a core key or an installed plugin's section."""
    lines: list[str] = []
    for key in doc.data:
        problem = catalog.top_level_problem(key, study=True)
        if problem:
            lines.append(f"{doc.locate((key,), key=True)}: {problem}")
    if user is not None:
        for key in user.data:
            problem = (
                "belongs in a config file, not in the user config"
                if key in STUDY_ONLY
                else catalog.top_level_problem(key, study=False)
            )
            if problem:
                lines.append(f"{user.locate((key,), key=True)}: {key}: {problem}")
    for source, path, entry in entries:
        for key in entry:
            problem = (
                f"{key!r} is not allowed inside an experiment"
                if key in STUDY_KEYS
                else catalog.top_level_problem(key, study=False)
            )
            if problem:
                lines.append(
                    f"{source.locate(path + (key,), key=True)}: "
                    f"experiments[{path[-1]}].{key}: {problem}"
                )
    for o in sets:
        if o.head not in STUDY_ONLY:
            problem = catalog.top_level_problem(o.head, study=False)
            if problem:
                lines.append(f"{o.doc.source}: {problem}")
    if lines:
        raise ConfigError(render_all(lines, "the config has problems"))


def _axes(doc: Document, sets: Sequence[Override], catalog: Catalog) -> list[Axis]:
    axes = {a.key: a for a in parse_axes(doc.data.get("sweep"), doc, ("sweep",), catalog)}
    for o in sets:
        if o.head == "sweep":
            for a in parse_axes(o.doc.data["sweep"], o.doc, ("sweep",), catalog):
                axes[a.key] = a
    return list(axes.values())


def _study_name(doc: Document, sets: Sequence[Override], default: str) -> str:
    name, where = doc.data.get("name", default), str(doc.locate(("name",)))
    for o in sets:
        if o.head == "name":
            name, where = o.value, o.doc.source
    if name is None:
        return default
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{where}: name: expected a non-empty string, got {name!r}")
    return name


def _study_sections(
    user: Document | None,
    data: dict[str, Any],
    profile: str | None,
    set_layer: dict[str, Any],
    set_mounts: tuple[Mount, ...],
    doc: Document,
) -> tuple[ExecutionConfig, OutputConfig]:
    """The study's execution and output: user config < file < profile < --set."""
    merged: dict[str, Any] = {}
    for layer in ((user.data if user is not None else {}), data):
        merge_into(merged, {k: layer[k] for k in ("execution", "output") if k in layer})
    apply_profile(merged, profile)
    merge_into(merged, {k: set_layer[k] for k in ("execution", "output") if k in set_layer})
    mounts = ([Mount((), user)] if user is not None else []) + [Mount((), doc), *set_mounts]
    issues: list[Issue] = []
    execution = structure_into(
        merged.get("execution") or {}, ExecutionConfig, ("execution",), issues
    )
    output = structure_into(merged.get("output") or {}, OutputConfig, ("output",), issues)
    if issues:
        origins = Origins(tuple(mounts))
        raise ConfigError(
            render_all([i.render(origins) for i in issues], "the config has problems")
        )
    return execution, output
