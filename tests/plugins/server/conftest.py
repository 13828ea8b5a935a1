"""Fixtures of the server backend's tests (helpers: llem_server_testutil)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from llem.plugin import ExperimentConfig
from llem_server.backend import ServerBackend
from llem_server.config import ServerConfig
from llem_server_testutil import experiment


@pytest.fixture
def launched() -> Iterator[Any]:
    """``launched(section, cfg=None) -> backend`` loaded; every one is closed after the test."""
    made: list[ServerBackend] = []

    def launch(section: ServerConfig, cfg: ExperimentConfig | None = None) -> ServerBackend:
        backend = ServerBackend(section)
        made.append(backend)
        backend.load(cfg or experiment(section), ())
        return backend

    yield launch
    for backend in made:
        backend.close()
