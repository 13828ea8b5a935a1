"""llem-server passes the backend conformance suite against the fake OpenAI server."""

from __future__ import annotations

import os

from llem.testing import BackendConformance
from llem_server.backend import ServerBackend
from llem_server.process import process_tree
from llem_server_testutil import alive, fake_command


class TestServerConformance(BackendConformance):
    backend_class = ServerBackend
    config = {
        "launch": "command",
        "command": fake_command("--step-ms", "2"),
        "ready_timeout_s": 30,
        "args": {},
    }
    bad_configs = [
        {"launch": "command"},  # no command
        {"launch": "vllm", "command": ["x", "{port}"]},  # command without launch: command
        {"launch": "command", "command": ["srv"]},  # no {port}
        {"launch": "nope"},
        {"api": "responses"},
        {"ready_timeout_s": 0},
        {"port": 70000},
        {"api_key_env": "sk-live-123"},  # a key, not a variable name
        {"url": "localhost:8000"},  # no scheme
        {"url": "http://127.0.0.1:8000", "args": {"max-num-seqs": 4}},
        {"args": {"--max-num-seqs": 4}},
        {"no_such_key": 1},
    ]
    num_requests = 5
    experiment = {"devices": ()}

    def resources_in_use(self) -> float:
        """Processes this test process has started that still run (servers, guards)."""
        return float(len([p for p in process_tree(os.getpid()) if alive(p)]) - 1)
