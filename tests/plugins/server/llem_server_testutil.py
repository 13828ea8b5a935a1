"""Helpers of the server backend's tests: the fake OpenAI server
(tests/fakes/openai_server.py) launched through ``launch: command``, experiments on
builtin:tiny-llama, and whether a process still runs."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from llem.plugin import ExperimentConfig
from llem.testing import experiment_for, synthetic_requests
from llem_server.backend import ServerBackend
from llem_server.config import ServerConfig

FAKE = Path(__file__).resolve().parents[2] / "fakes" / "openai_server.py"


def fake_command(*options: str) -> list[str]:
    """The argv template that starts the fake server with ``options``."""
    return [sys.executable, str(FAKE), "--host", "{host}", "--port", "{port}", *options]


def fake_section(*options: str, **fields: Any) -> ServerConfig:
    fields.setdefault("ready_timeout_s", 30.0)
    fields.setdefault("stop_timeout_s", 10.0)
    return ServerConfig(launch="command", command=tuple(fake_command(*options)), **fields)


def experiment(section: ServerConfig, **overrides: Any) -> ExperimentConfig:
    overrides.setdefault("num_requests", 6)
    overrides.setdefault("devices", ())
    return experiment_for(ServerBackend, section, "builtin:tiny-llama", **overrides)


def requests_for(backend: ServerBackend, cfg: ExperimentConfig) -> list[Any]:
    assert backend.vocab_size is not None
    return synthetic_requests(
        cfg.dataset.num_prompts,
        cfg.dataset.input_len,
        cfg.generation.max_new_tokens,
        backend.vocab_size,
    )


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie does not count: it holds no memory)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
