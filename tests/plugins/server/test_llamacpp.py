"""llama.cpp for real on this CPU: a random-weight GGUF of builtin:tiny-llama written by
llem, served by llama-cpp-python's server, driven over HTTP; and examples/server-llamacpp.yaml
through ``llem run``. Needs ``pip install 'llem-server[llamacpp]'`` (compiles llama.cpp)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llem_server.config import ServerConfig
from llem_server_testutil import alive, experiment, requests_for

pytest.importorskip("llama_cpp.server", reason="llama-cpp-python[server] is not installed")
pytest.importorskip("gguf", reason="the gguf package is not installed")
pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "server-llamacpp.yaml"


def test_llama_cpp_python_serves_the_random_gguf_with_exact_token_counts(launched):
    section = ServerConfig(
        launch="llamacpp", args={"n_ctx": 512, "n_threads": 1}, ready_timeout_s=120
    )
    cfg = experiment(section, num_requests=3, input_len=24, max_new_tokens=10)
    backend = launched(section, cfg)
    assert backend.vocab_size == 512
    records = backend.generate(requests_for(backend, cfg), cfg.generation)
    assert [(r.input_tokens, r.output_tokens) for r in records] == [(24, 10)] * 3
    assert all(len(set(r.token_times_ns)) == 10 for r in records)  # one chunk per token
    pids = backend.server.pids()
    backend.close()
    assert not [p for p in pids if alive(p)]


def test_the_example_runs_end_to_end_through_llem_run(tmp_path):
    from click.testing import CliRunner
    from llem.cli import cli

    out = CliRunner().invoke(cli, ["run", str(EXAMPLE), "--out", str(tmp_path)])
    assert out.exit_code == 0, out.output
    (run_dir,) = tmp_path.iterdir()
    (exp_dir,) = (run_dir / "experiments").iterdir()
    results = json.loads((run_dir / "study.json").read_text())["experiments"]
    (result,) = results
    assert result["status"] == "ok", result.get("error")
    assert result["workload"]["output_tokens"] == 8 * 16
    assert result["workload"]["input_tokens"] == 8 * 32
    details = result["backend_details"]
    assert details["launch"] == "llamacpp" and details["client_cpu_s"] > 0
    assert "Uvicorn running" in (exp_dir / "server.log").read_text()
