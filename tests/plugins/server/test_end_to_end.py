"""``llem run`` with backend server against the fake server launched via ``launch: command``:
offline and serving, an API key that appears nowhere in the run directory, and a study
that goes on after a server crashed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from llem_server_testutil import fake_command

KEY = "sk-test-0123456789abcdef"


def run(tmp_path: Path, body: dict[str, Any]) -> tuple[Any, Path]:
    from click.testing import CliRunner
    from llem.cli import cli

    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(body))
    out = CliRunner().invoke(cli, ["run", str(config), "--out", str(tmp_path / "out")])
    (run_dir,) = (tmp_path / "out").iterdir()
    return out, run_dir


def study(**server: Any) -> dict[str, Any]:
    return {
        "name": "server-e2e",
        "model": "builtin:tiny-llama",
        "backend": "server",
        "weights": "random",
        "precision": "fp32",
        "devices": [],
        "server": {"launch": "command", "command": fake_command(), **server},
        "dataset": {"num_prompts": 6, "input_len": 8},
        "generation": {"max_new_tokens": 5},
        "warmup": {"runs": 1, "thermal_floor_s": 0},
        "baseline": {"enabled": False},
        "execution": {"cycles": 1, "config_gap_s": 0},
    }


def results(run_dir: Path) -> list[dict[str, Any]]:
    return json.loads((run_dir / "study.json").read_text())["experiments"]


def test_offline_run_with_an_api_key_that_is_written_nowhere(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", KEY)
    out, run_dir = run(tmp_path, study(api_key_env="FAKE_API_KEY"))
    assert out.exit_code == 0, out.output
    (result,) = results(run_dir)
    assert result["status"] == "ok", result.get("error")
    assert result["workload"]["output_tokens"] == 6 * 5
    assert result["backend_details"]["launch"] == "command"
    (exp_dir,) = (run_dir / "experiments").iterdir()
    assert "fake: request" in (exp_dir / "server.log").read_text()  # authorised requests
    leaks = [p for p in run_dir.rglob("*") if p.is_file() and KEY.encode() in p.read_bytes()]
    assert leaks == []
    assert "FAKE_API_KEY" in (run_dir / "config.yaml").read_text()  # the name only


def test_a_wrong_key_fails_the_experiment_with_the_servers_401(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_API_KEY", KEY)
    monkeypatch.setenv("WRONG_KEY", "sk-wrong")
    body = study(api_key_env="WRONG_KEY")
    body["server"]["command"] = ["env", f"FAKE_API_KEY={KEY}", *fake_command()]
    out, run_dir = run(tmp_path, body)
    (result,) = results(run_dir)
    assert result["status"] == "failed"
    assert "401" in result["error"]["message"]


def test_a_crashed_server_fails_its_experiment_and_the_study_goes_on(tmp_path):
    body = study()
    body["sweep"] = {"server.command": [fake_command("--crash-after-tokens", "3"), fake_command()]}
    del body["server"]["command"]
    out, run_dir = run(tmp_path, body)
    got = sorted((r["status"], (r.get("error") or {}).get("message", "")) for r in results(run_dir))
    assert [s for s, _ in got] == ["failed", "ok"]
    assert "exited with code 17" in got[0][1] and "crashing after 3 tokens" in got[0][1]


def test_serving_mode_run_against_the_fake_server(tmp_path):
    pytest.importorskip("llem.load.generator")
    body = study()
    body["load"] = {
        "mode": "serving",
        "arrival": "poisson",
        "rate": 50,
        "warmup_requests": 2,
        "warmup_s": 0.5,
    }
    body["dataset"]["num_prompts"] = 20
    out, run_dir = run(tmp_path, body)
    assert out.exit_code == 0, out.output
    (result,) = results(run_dir)
    assert result["status"] == "ok", result.get("error")
    assert result["workload"]["output_tokens"] == 20 * 5
    assert result["backend_details"]["client_tokens"] >= 20 * 5  # warmup requests too
    assert result["backend_details"]["client_cpu_s"] > 0
    assert (run_dir / result["requests_file"]).is_file()


def test_a_worker_killed_at_its_timeout_takes_the_server_along(tmp_path):
    import os
    import time
    import uuid

    marker = f"marker-{uuid.uuid4().hex}"
    body = study()
    body["server"]["command"] = fake_command(
        "--step-ms", "1000", "--model-name", marker, "--spawn-child"
    )
    body["execution"]["timeout_s"] = 8
    out, run_dir = run(tmp_path, body)
    (result,) = results(run_dir)
    assert result["status"] == "failed" and result["error"]["kind"] == "timeout"

    def servers() -> list[int]:
        found = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    if marker.encode() in fh.read():
                        found.append(int(entry))
            except (OSError, ValueError):
                continue
        return found

    deadline = time.monotonic() + 10
    while servers() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert servers() == []  # the fake server and its child, both named by the marker
