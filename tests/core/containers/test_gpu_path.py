"""The GPU container path against a recorded docker CLI (tests/fakes/docker_cli): no
GPU or NVIDIA runtime is here, so what is checked is what llem asks docker for."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from llem.containers import engine
from llem.errors import PreflightError

FAKE = Path(__file__).resolve().parents[2] / "fakes" / "docker_cli" / "docker"


@pytest.fixture
def docker(tmp_path, monkeypatch):
    pytest.importorskip("python_on_whales", reason="pip install 'llem-core[docker]'")
    from python_on_whales import DockerClient

    log = tmp_path / "argv.jsonl"
    monkeypatch.setenv("FAKE_DOCKER_LOG", str(log))
    client = DockerClient(client_call=[str(FAKE)])
    client.argv = lambda: [json.loads(line) for line in log.read_text().splitlines()]
    return client


def test_a_gpu_container_gets_exactly_its_gpus_by_uuid(docker):
    engine.start(
        docker,
        image="llem-vllm:x",
        name="llem-vllm-1",
        backend="vllm",
        mount_dir="/tmp/llem-c-1",
        gpu_uuids=["GPU-aaa", "GPU-bbb"],
        labels={engine.LABEL: "/runs/r1"},
    )
    run = next(a for a in docker.argv() if a[:2] == ["container", "run"])
    assert run[run.index("--gpus") + 1] == '"device=GPU-aaa,GPU-bbb"'
    assert run[run.index("--volume") + 1] == "/tmp/llem-c-1:/llem"
    assert run[run.index("--label") + 1] == "llem.run=/runs/r1"
    assert {"--rm", "--init", "--detach"} <= set(run)
    assert run[-4:] == ["python3", "-m", "llem.containers.backend_host", "vllm"]


def test_a_cpu_container_gets_no_gpus(docker):
    engine.start(
        docker, image="i", name="n", backend="pytorch", mount_dir="/m", gpu_uuids=[], labels={}
    )
    run = next(a for a in docker.argv() if a[:2] == ["container", "run"])
    assert "--gpus" not in run


def test_gpu_runs_need_the_nvidia_runtime(docker, monkeypatch):
    monkeypatch.setattr(engine, "_toolkit_hook", lambda: None)  # and no toolkit hook
    with pytest.raises(PreflightError, match="nvidia-ctk runtime configure"):
        engine.check_gpu_runtime(docker)
    monkeypatch.setenv("FAKE_DOCKER_NVIDIA", "1")
    engine.check_gpu_runtime(docker)  # the runtime daemon.json registers: accepted


def test_the_container_processes_are_found_by_host_pid(docker):
    assert engine.main_pid(docker, "llem-vllm-1") == 3027  # the recorded container's
