"""Every example config loads with the plugins actually installed (skipped if one is missing)."""

from __future__ import annotations

from importlib import metadata
from pathlib import Path

import llem.plugins
import pytest
from llem.config.loader import load_config, loads
from llem.errors import ConfigError
from llem.plan.preview import Gpus, build_preview

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
COUNTS = {"sweep.yaml": 6, "backends.yaml": 5, "experiments.yaml": 4, "quickstart.yaml": 1}


@pytest.mark.parametrize("name", sorted(COUNTS))
def test_example_loads_and_previews(name, monkeypatch):
    monkeypatch.setattr(llem.plugins, "metadata", metadata)
    monkeypatch.delenv("LLEM_PLUGINS", raising=False)
    llem.plugins.get_registry(refresh=True)
    try:
        study = load_config(EXAMPLES / name)
    except ConfigError as exc:
        if "pip install llem-" in str(exc):
            pytest.skip(f"a plugin the example needs is not installed: {exc}")
        raise
    assert len(study.experiments) == COUNTS[name]
    preview = build_preview(study, Gpus({0: 80 * 1024**3}, ("H100 (80 GiB)",)))
    assert all(row.fit == "fits" for row in preview.rows)


def test_user_config_example_is_a_valid_user_config(monkeypatch):
    monkeypatch.setenv("LLEM_USER_CONFIG", str(EXAMPLES / "user-config.yaml"))
    study = loads("model: m\nbackend: alpha\n")
    assert study.output.dir == "/data/llem-results"
    assert study.experiments[0].warmup.thermal_floor_s == 90
