"""Throwaway plugins for config, plugin and CLI tests, announced through fake entry points.

``use_fake_plugins(monkeypatch, ...)`` makes ``llem.plugins`` see exactly the given entry
points (instead of whatever is installed), so tests do not depend on which real plugins
happen to be present. Backends ``alpha`` (section with ``batch_size``) and ``beta``
(section with ``max_num_seqs`` and ``gpu_memory_utilization``), meters ``gauge`` (with a
section) and ``plain`` (without).
"""

from __future__ import annotations

import types
from importlib import metadata
from typing import Any

import attrs
import llem.plugins
from attrs import validators as v
from llem import Backend, Meter, hookimpl


@attrs.frozen
class AlphaConfig:
    batch_size: int = attrs.field(default=1, validator=v.ge(1))
    min_len: int = 1
    max_len: int = 8
    quantization: str | None = None

    def __attrs_post_init__(self) -> None:
        if self.min_len > self.max_len:
            raise ValueError(
                f"alpha.min_len ({self.min_len}) must be <= alpha.max_len ({self.max_len})"
            )


@attrs.frozen
class BetaConfig:
    max_num_seqs: int | None = None
    gpu_memory_utilization: float = 0.9


@attrs.frozen
class GaugeConfig:
    measure_cpu: bool = True


class AlphaBackend(Backend):
    name = "alpha"
    config_type = AlphaConfig


class BetaBackend(Backend):
    name = "beta"
    config_type = BetaConfig

    @classmethod
    def missing_requirement(cls) -> str | None:
        return "betaengine not installed: pip install betaengine"


class GaugeMeter(Meter):
    name = "gauge"
    config_type = GaugeConfig


class PlainMeter(Meter):
    name = "plain"


class AlphaPlugin:
    @hookimpl
    def register_backends(self, register: Any) -> None:
        register(AlphaBackend)


class BetaPlugin:
    @hookimpl
    def register_backends(self, register: Any) -> None:
        register(BetaBackend)


class MetersPlugin:
    @hookimpl
    def register_meters(self, register: Any) -> None:
        register(GaugeMeter)
        register(PlainMeter)


class ClashPlugin:
    """Registers a second backend named ``alpha``."""

    @hookimpl
    def register_backends(self, register: Any) -> None:
        class OtherAlpha(Backend):
            name = "alpha"

        register(OtherAlpha)


class CommandPlugin:
    @hookimpl
    def register_commands(self, cli: Any) -> None:
        import click

        @cli.command(name="hello")
        def hello() -> None:
            """Say hello (from a plugin)."""
            click.echo("hello from a plugin")


@attrs.frozen
class FakeEntryPoint:
    """Enough of importlib.metadata.EntryPoint for llem.plugins."""

    name: str
    target: Any  # the plugin object, or an exception that loading raises
    dist_name: str = "llem-fake"
    version: str = "1.0"
    group: str = "llem"

    @property
    def dist(self) -> Any:
        return types.SimpleNamespace(name=self.dist_name, version=self.version)

    def load(self) -> Any:
        if isinstance(self.target, BaseException):
            raise self.target
        return self.target


def standard_entry_points() -> list[FakeEntryPoint]:
    return [
        FakeEntryPoint("alpha", AlphaPlugin(), "llem-alpha", "1.2.3"),
        FakeEntryPoint("beta", BetaPlugin(), "llem-beta", "0.4"),
        FakeEntryPoint("meters", MetersPlugin(), "llem-meters", "2.0"),
    ]


def use_fake_plugins(
    monkeypatch: Any, entry_points: list[FakeEntryPoint] | None = None, only: str | None = None
) -> llem.plugins.Registry:
    """Make llem.plugins discover ``entry_points`` (default: alpha, beta, meters) and
    nothing else; ``only`` sets LLEM_PLUGINS. Returns the refreshed registry."""
    eps = standard_entry_points() if entry_points is None else entry_points
    fake = types.SimpleNamespace(
        entry_points=lambda group=None: [e for e in eps if group in (None, e.group)],
        version=metadata.version,
        PackageNotFoundError=metadata.PackageNotFoundError,
    )
    monkeypatch.setattr(llem.plugins, "metadata", fake)
    if only is None:
        monkeypatch.delenv("LLEM_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("LLEM_PLUGINS", only)
    return llem.plugins.get_registry(refresh=True)


def forget_registry() -> None:
    """Drop the cached registry so the next get_registry() loads the real plugins."""
    llem.plugins._cached = None
