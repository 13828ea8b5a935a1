"""A study read back from its run directory, finished or not.

study.json holds everything once the study ended; before that (a running, crashed or
interrupted study) the experiments' result.json files are read and aggregated here the
way the study session would, so a report can be drawn at any moment.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs

from llem.errors import ConfigError
from llem.results.schema import ConfigAggregate, ExperimentResult

STUDY_NAME = "study.json"
MANIFEST_NAME = "manifest.json"
CONFIG_NAME = "config.yaml"


@attrs.frozen
class LoadedStudy:
    """What a report needs of one run directory. ``params``: config hash -> the
    parameters that vary across the study; ``manifest``: manifest.json as plain data
    (empty when absent)."""

    run_dir: Path
    name: str
    status: str
    started_at: str | None
    ended_at: str | None
    experiments: tuple[ExperimentResult, ...]
    aggregates: tuple[ConfigAggregate, ...]
    pareto_front: tuple[str, ...]
    pareto_axes: tuple[str, str]
    params: Mapping[str, Mapping[str, Any]]
    manifest: Mapping[str, Any] = attrs.field(factory=dict)
    config_text: str | None = None

    @property
    def ok(self) -> tuple[ExperimentResult, ...]:
        return tuple(r for r in self.experiments if r.status == "ok")

    def label(self, config_hash: str) -> str:
        """The configuration's varying parameters (``k=v, ...``), else its name or hash."""
        params = self.params.get(config_hash) or {}
        if params:
            return ", ".join(f"{short_key(k)}={v}" for k, v in params.items())
        agg = next((a for a in self.aggregates if a.config_hash == config_hash), None)
        return (agg.name if agg and agg.name else None) or config_hash[:12]


def short_key(key: str) -> str:
    """``generation.max_new_tokens`` -> ``max_new_tokens``: labels stay short."""
    return key.rsplit(".", 1)[-1]


def load_study(run_dir: Path) -> LoadedStudy:
    """Read ``run_dir``; a ConfigError says what is missing and how to fix it."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ConfigError(f"{run_dir} is not a directory; give a run directory (llem run's --out)")
    manifest = _read_json(run_dir / MANIFEST_NAME) or {}
    study = _read_json(run_dir / STUDY_NAME)
    experiments = _experiments(run_dir, study)
    if not experiments and not manifest:
        raise ConfigError(
            f"{run_dir} holds no study.json, manifest.json or experiments/*/result.json: "
            f"it is not a llem run directory (list them with `llem results list DIR`)"
        )
    config = run_dir / CONFIG_NAME
    text = config.read_text("utf-8") if config.exists() else None
    if study is not None:
        return _from_study_json(run_dir, study, experiments, manifest, text)
    return _from_results(run_dir, experiments, manifest, text)


def _read_json(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} cannot be read ({exc}); is the run still writing it?") from None
    return data if isinstance(data, dict) else None


def _experiments(run_dir: Path, study: Mapping[str, Any] | None) -> tuple[ExperimentResult, ...]:
    from llem.results.serialize import result_from_dict

    if study is not None:
        return tuple(
            result_from_dict(d, f"{run_dir / STUDY_NAME}: experiment {i}")
            for i, d in enumerate(study.get("experiments") or ())
        )
    paths = sorted(run_dir.glob("experiments/*/result.json"))
    results = [result_from_dict(json.loads(p.read_text("utf-8")), str(p)) for p in paths]
    return tuple(sorted(results, key=lambda r: (r.started_at, r.id)))


def _params(experiments: Sequence[ExperimentResult]) -> dict[str, dict[str, Any]]:
    from llem.config.identity import varying_from_dicts

    first: dict[str, ExperimentResult] = {}
    for r in experiments:
        first.setdefault(r.config_hash, r)
    varying = varying_from_dicts(r.config for r in first.values())
    return dict(zip(first, varying, strict=True))


def _from_study_json(
    run_dir: Path,
    study: Mapping[str, Any],
    experiments: tuple[ExperimentResult, ...],
    manifest: Mapping[str, Any],
    text: str | None,
) -> LoadedStudy:
    from llem.results.serialize import study_from_dict

    s = study_from_dict(study, str(run_dir / STUDY_NAME))
    aggregates = s.aggregates or _aggregate(experiments)
    params = {a.config_hash: dict(a.params) for a in aggregates} or _params(experiments)
    return LoadedStudy(
        run_dir=run_dir,
        name=s.name,
        status=s.status,
        started_at=s.started_at,
        ended_at=s.ended_at,
        experiments=experiments,
        aggregates=aggregates,
        pareto_front=s.pareto_front,
        pareto_axes=s.pareto_axes,
        params=params,
        manifest=manifest,
        config_text=text,
    )


def _from_results(
    run_dir: Path,
    experiments: tuple[ExperimentResult, ...],
    manifest: Mapping[str, Any],
    text: str | None,
) -> LoadedStudy:
    from llem.analysis.metrics import DEFAULT_PARETO_METRIC, ENERGY_METRIC
    from llem.analysis.pareto import aggregates_front

    aggregates = _aggregate(experiments)
    return LoadedStudy(
        run_dir=run_dir,
        name=str(manifest.get("study") or run_dir.name),
        status=str(manifest.get("status") or "unknown"),
        started_at=manifest.get("created_at"),
        ended_at=manifest.get("updated_at"),
        experiments=experiments,
        aggregates=aggregates,
        pareto_front=aggregates_front(aggregates) if aggregates else (),
        pareto_axes=(ENERGY_METRIC, DEFAULT_PARETO_METRIC),
        params={a.config_hash: dict(a.params) for a in aggregates},
        manifest=manifest,
        config_text=text,
    )


def _aggregate(experiments: Sequence[ExperimentResult]) -> tuple[ConfigAggregate, ...]:
    from llem.analysis.aggregate import aggregate_results

    return aggregate_results(experiments, _params(experiments)) if experiments else ()
