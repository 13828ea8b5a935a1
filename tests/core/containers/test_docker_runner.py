"""Experiments whose backend runs in a real container, measured by the host's worker."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.core.containers.conftest import ROOT, containers_of, wait_no_containers
from tests.fakes.dist_info import announce

CONFIG = """\
name: {name}
model: builtin:tiny-llama
weights: random
backend: echo
devices: []
echo: {{token_delay_ms: {delay}}}
dataset: {{num_prompts: 4, input_len: 8}}
generation: {{max_new_tokens: {tokens}}}
warmup: {{runs: 0, thermal_floor_s: 0}}
baseline: {{enabled: false}}
energy: {{meter: null, min_window_s: 0}}
execution:
  cycles: {cycles}
  timeout_s: {timeout}
  config_gap_s: 0
  cycle_gap_s: 0
  runner: {{echo: docker}}
  images: {{echo: {image}}}
output: {{dir: {out}}}
"""


def _env(tmp_path: Path) -> dict[str, str]:
    site = announce(tmp_path / "site", "llem-echo", "0.1.0", "echo", "llem_echo")
    template = ROOT / "examples" / "plugin-template" / "src"
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(template), str(ROOT)]),
        "LLEM_USER_CONFIG": "",
    }


def _write(
    tmp_path: Path,
    *,
    image: str,
    delay: float = 1.0,
    tokens: int = 8,
    cycles: int = 1,
    name: str = "docker-study",
    timeout: float = 600,
) -> Path:
    path = tmp_path / "study.yaml"
    path.write_text(
        CONFIG.format(
            name=name,
            image=image,
            delay=delay,
            tokens=tokens,
            cycles=cycles,
            out=tmp_path / "results",
            timeout=timeout,
        )
    )
    return path


class _Llem(subprocess.Popen):
    def communicate(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        try:
            return super().communicate(*args, **kwargs)
        except subprocess.TimeoutExpired:
            self.kill()
            raise


def _llem(*args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return _Llem(
        [sys.executable, "-m", "llem.cli", *args],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _results(tmp_path: Path) -> list[dict]:
    return [
        json.loads(p.read_text())
        for p in sorted(tmp_path.glob("results/*/experiments/*/result.json"))
    ]


def _run_dir(tmp_path: Path) -> Path:
    runs = [p for p in (tmp_path / "results").iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def test_backend_runs_in_its_container_and_the_host_measures(tmp_path, echo_image):
    env = _env(tmp_path)
    proc = _llem("run", str(_write(tmp_path, image=echo_image)), env=env)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    [result] = _results(tmp_path)
    assert result["status"] == "ok", result.get("error")
    runner = result["environment"]["runner"]
    assert runner["kind"] == "docker" and runner["image"] == echo_image
    assert runner["image_digest"].startswith("sha256:")
    assert runner["runtime"] == "runc"
    assert result["workload"]["output_tokens"] == 4 * 8
    # the backend ran in the container: its log (kept with the experiment) names it
    log = next(_run_dir(tmp_path).glob("experiments/*/container.log")).read_text()
    assert "llem backend_host: backend echo in /opt/llem" in log  # the image's venv
    assert not Path("/opt/llem").exists()
    assert wait_no_containers(_run_dir(tmp_path)) == []


def test_a_killed_container_fails_its_experiment_and_the_study_goes_on(tmp_path, echo_image):
    env = _env(tmp_path)
    # 2 cycles; each generation takes ~3 s (300 steps of 10 ms)
    proc = _llem(
        "run", str(_write(tmp_path, image=echo_image, delay=10, tokens=300, cycles=2)), env=env
    )
    killed: list[str] = []

    def kill_first() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            runs = list((tmp_path / "results").glob("*")) if (tmp_path / "results").exists() else []
            for run in runs:
                for cid in containers_of(run):
                    time.sleep(1.5)  # inside the window
                    subprocess.run(["docker", "kill", cid], capture_output=True)
                    killed.append(cid)
                    return
            time.sleep(0.1)

    killer = threading.Thread(target=kill_first)
    killer.start()
    out, _ = proc.communicate(timeout=300)
    killer.join()
    assert killed, out
    results = _results(tmp_path)
    statuses = sorted(r["status"] for r in results)
    assert statuses == ["failed", "ok"], out
    failed = next(r for r in results if r["status"] == "failed")
    assert "container" in failed["error"]["message"] and "ended" in failed["error"]["message"]
    assert wait_no_containers(_run_dir(tmp_path)) == []


def test_sigint_stops_the_study_removes_the_container_and_resume_finishes(tmp_path, echo_image):
    env = _env(tmp_path)
    proc = _llem("run", str(_write(tmp_path, image=echo_image, delay=10, tokens=500)), env=env)
    deadline = time.monotonic() + 120
    run_dir = None
    while time.monotonic() < deadline and run_dir is None:
        for run in (tmp_path / "results").glob("*") if (tmp_path / "results").exists() else []:
            if containers_of(run):
                run_dir = run
        time.sleep(0.1)
    assert run_dir is not None, "no container started"
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert wait_no_containers(run_dir) == []
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert all(e["status"] != "done" for e in manifest["entries"]), manifest
    resumed = _llem("run", "--resume", str(run_dir), env=env)
    out, _ = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, out
    assert [r["status"] for r in _results(tmp_path)] == ["ok"]
    assert wait_no_containers(run_dir) == []


def test_a_timeout_fails_the_experiment_and_removes_its_container(tmp_path, echo_image):
    env = _env(tmp_path)
    cfg = _write(tmp_path, image=echo_image, delay=10, tokens=3000, timeout=8)
    proc = _llem("run", str(cfg), env=env)
    out, _ = proc.communicate(timeout=180)
    [result] = _results(tmp_path)
    assert result["status"] == "failed" and result["error"]["kind"] == "timeout", out
    assert wait_no_containers(_run_dir(tmp_path)) == []


def test_a_missing_image_fails_preflight_with_the_build_command(tmp_path, echo_image):
    env = _env(tmp_path)
    proc = _llem("run", str(_write(tmp_path, image="llem-no-such-image:0")), env=env)
    out, _ = proc.communicate(timeout=120)
    [result] = _results(tmp_path)
    assert result["status"] == "failed"
    assert result["error"]["kind"] == "preflight"
    assert "llem docker build echo" in result["error"]["message"]
    assert "Traceback" not in out


@pytest.mark.parametrize("missing", ["docker", "whales"])
def test_docker_absent_says_how_to_fix(monkeypatch, missing):
    from llem.containers import engine
    from llem.errors import PreflightError

    if missing == "docker":
        monkeypatch.setenv("PATH", "/nonexistent")
        expected = "no `docker` command"
    else:
        monkeypatch.setitem(sys.modules, "python_on_whales", None)
        expected = "pip install 'llem-core[docker]'"
    with pytest.raises(PreflightError, match=expected.replace("[", r"\[").replace("]", r"\]")):
        engine.client()


def test_serving_streams_every_request_through_the_container(tmp_path, echo_image):
    import pyarrow.parquet as pq

    env = _env(tmp_path)
    cfg = _write(tmp_path, image=echo_image, delay=2, tokens=16)
    cfg.write_text(
        cfg.read_text().replace(
            "dataset: {num_prompts: 4, input_len: 8}",
            "dataset: {num_prompts: 24, input_len: 8}\n"
            "load: {mode: serving, arrival: poisson, rate: 40, warmup_requests: 0}",
        )
    )
    proc = _llem("run", str(cfg), env=env)
    out, _ = proc.communicate(timeout=240)
    assert proc.returncode == 0, out
    [result] = _results(tmp_path)
    assert result["status"] == "ok", result.get("error")
    assert result["environment"]["runner"]["kind"] == "docker"
    [requests] = list(_run_dir(tmp_path).glob("experiments/*/requests.parquet"))
    rows = pq.read_table(requests).to_pylist()
    assert len(rows) == 24
    assert all(r["output_tokens"] == 16 for r in rows)
    assert wait_no_containers(_run_dir(tmp_path)) == []
