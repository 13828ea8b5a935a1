"""The library entry points behind ``llem.run_experiment`` and ``llem.run_study``.

Both accept a StudyConfig, an ExperimentConfig or a path to a YAML config, and always
write a run directory (a single experiment is a study of one). Failures of an
experiment are results, not exceptions: check ``.status``. Ctrl+C raises
``llem.errors.Interrupted`` after saving what finished.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import attrs

from llem.architectures import model_slug
from llem.config.schema import ExperimentConfig, StudyConfig
from llem.errors import ConfigError
from llem.results.schema import ExperimentResult, StudyResult

Config = Union[StudyConfig, ExperimentConfig, str, "os.PathLike[str]"]


def as_study(config: Config) -> StudyConfig:
    """``config`` as a StudyConfig (loading a path with llem.config.loader)."""
    if isinstance(config, StudyConfig):
        return config
    if isinstance(config, ExperimentConfig):
        name = config.name or model_slug(config.model)
        return StudyConfig(
            name=name or "experiment",
            experiments=(config,),
            execution=config.execution,
            output=config.output,
        )
    if isinstance(config, (str, os.PathLike)):
        from llem.config.loader import load_config

        return load_config(Path(config))
    raise TypeError(
        f"expected a StudyConfig, ExperimentConfig or a path, got {type(config).__name__}"
    )


def run_study(config: Config, *, out_dir: Path | None = None, progress: bool = True) -> StudyResult:
    """Run a study (every experiment x execution.cycles) and return its StudyResult."""
    from llem.run import study

    return study.run_study(as_study(config), out_dir=out_dir, progress=progress)


def run_experiment(
    config: Config, *, out_dir: Path | None = None, progress: bool = True
) -> ExperimentResult:
    """Run one experiment once (one cycle) and return its result.

    A config that resolves to several experiments is an error: use ``run_study``.
    """
    from llem.run import study

    s = as_study(config)
    if len(s.experiments) != 1:
        raise ConfigError(
            f"run_experiment needs exactly one experiment, but the config resolves to "
            f"{len(s.experiments)}; use llem.run_study for a sweep"
        )
    s = attrs.evolve(s, execution=attrs.evolve(s.execution, cycles=1))
    result = study.run_study(s, out_dir=out_dir, progress=progress)
    return result.experiments[0]
