"""llem: what does an implementation choice cost when an LLM generates text?

The public API. Nothing outside this module is stable.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from llem.hookspecs import hookimpl
from llem.interfaces import (
    Availability,
    Backend,
    Device,
    EnergyReading,
    Meter,
    Problem,
    Request,
    RequestRecord,
    Sink,
    TokenChunk,
)

try:
    __version__ = version("llem-core")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0+unknown"

__all__ = [
    "Availability",
    "Backend",
    "Device",
    "EnergyReading",
    "Meter",
    "Problem",
    "Request",
    "RequestRecord",
    "Sink",
    "TokenChunk",
    "__version__",
    "hookimpl",
    "load_config",
    "run_experiment",
    "run_study",
]


def __getattr__(name: str):  # lazy: keep `import llem` light for the CLI
    if name == "load_config":
        from llem.config.loader import load_config

        return load_config
    if name in ("run_experiment", "run_study"):
        from llem.run import api

        return getattr(api, name)
    if name in ("ExperimentConfig", "StudyConfig"):
        from llem.config import schema

        return getattr(schema, name)
    if name in ("ExperimentResult", "StudyResult"):
        from llem.results import schema as results_schema

        return getattr(results_schema, name)
    raise AttributeError(f"module 'llem' has no attribute {name!r}")
