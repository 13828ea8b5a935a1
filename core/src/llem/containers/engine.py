"""The docker CLI, through python-on-whales (the optional extra ``llem-core[docker]``).

Every failure a user can fix is a PreflightError that says how: no docker CLI, no
python-on-whales, a daemon that does not answer, a missing image (the build command),
GPUs asked for without the NVIDIA container runtime.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

from llem.containers.channel import MOUNT
from llem.errors import PreflightError

LABEL = "llem.run"  # every container llem starts carries the run directory under this


def client() -> Any:
    """A python-on-whales DockerClient, or PreflightError saying what is missing."""
    if shutil.which("docker") is None:
        raise PreflightError(
            "execution.runner is docker but no `docker` command is on PATH; install Docker "
            "(https://docs.docker.com/engine/install/) or set execution.runner: local"
        )
    try:
        from python_on_whales import DockerClient
    except ImportError:
        raise PreflightError(
            "execution.runner is docker but python-on-whales is not installed; "
            "run: pip install 'llem-core[docker]'"
        ) from None
    docker = DockerClient()
    try:
        docker.info()
    except Exception as exc:
        raise PreflightError(
            f"the Docker daemon does not answer ({_first_line(exc)}); start it "
            "(`sudo systemctl start docker`, or `dockerd &`) and check `docker info`"
        ) from None
    return docker


def check_image(docker: Any, image: str, backend: str) -> None:
    if not docker.image.exists(image):
        raise PreflightError(
            f"the image {image!r} for backend {backend!r} is not here; build it with "
            f"`llem docker build {backend}` or name your own in execution.images.{backend}"
        )


def check_gpu_runtime(docker: Any) -> None:
    """``--gpus`` needs the NVIDIA Container Toolkit: a registered ``nvidia`` runtime, or
    its hook on the daemon's PATH (this host's, for a local daemon)."""
    runtimes = getattr(docker.info(), "runtimes", None) or {}
    if "nvidia" not in runtimes and _toolkit_hook() is None:
        raise PreflightError(
            "the experiment runs on GPUs in a container, but Docker has no NVIDIA runtime "
            f"(runtimes: {', '.join(sorted(runtimes)) or 'none'}); install the NVIDIA "
            "Container Toolkit and run `sudo nvidia-ctk runtime configure --runtime=docker`"
        )


def _toolkit_hook() -> str | None:
    return shutil.which("nvidia-container-runtime-hook")


def gpus_argument(uuids: Sequence[str]) -> str | None:
    """``--gpus`` for exactly these GPUs. The quotes are part of the value: docker reads
    it as CSV, and a bare ``device=a,b`` would be two fields."""
    return f'"device={",".join(uuids)}"' if uuids else None


def start(
    docker: Any,
    *,
    image: str,
    name: str,
    backend: str,
    mount_dir: str,
    gpu_uuids: Sequence[str],
    labels: Mapping[str, str],
) -> Any:
    """Start the backend's container, detached; it removes itself when it exits."""
    return docker.run(
        image,
        ["python3", "-m", "llem.containers.backend_host", backend],
        detach=True,
        remove=True,
        init=True,
        name=name,
        labels=dict(labels),
        volumes=[(mount_dir, MOUNT)],
        gpus=gpus_argument(gpu_uuids),
        networks=["host"],  # engines may fetch weights; the socket is a Unix one
        ipc="host",  # vLLM and torch's shared-memory transfers need more than 64 MB
        envs={"PYTHONUNBUFFERED": "1"},
    )


def is_running(docker: Any, name: str) -> bool:
    try:
        return bool(docker.container.inspect(name).state.running)
    except Exception:
        return False


def main_pid(docker: Any, name: str) -> int | None:
    """The host PID of the container's first process (NVML reports host PIDs)."""
    try:
        return int(docker.container.inspect(name).state.pid) or None
    except Exception:
        return None


def remove(docker: Any, name: str) -> None:
    """Stop and remove the container; one that is already gone is fine."""
    with contextlib.suppress(Exception):
        docker.container.remove(name, force=True)


def remove_labelled(docker: Any, run_dir: str) -> int:
    """Remove every container llem started for ``run_dir``; how many there were."""
    found = docker.container.list(all=True, filters={"label": f"{LABEL}={run_dir}"})
    for container in found:
        remove(docker, container.id)
    return len(found)


def image_facts(docker: Any, image: str) -> dict[str, Any]:
    """Digest (the repo digest where pushed, else the image id) and llem's labels."""
    inspected = docker.image.inspect(image)
    digests = list(getattr(inspected, "repo_digests", None) or [])
    labels = dict(getattr(inspected.config, "labels", None) or {})
    return {
        "image": image,
        "image_digest": digests[0] if digests else inspected.id,
        "engine_versions": {
            k.removeprefix("llem.engine."): v
            for k, v in labels.items()
            if k.startswith("llem.engine.")
        },
    }


def runtime(docker: Any, gpu: bool) -> str:
    info = docker.info()
    return "nvidia" if gpu else str(getattr(info, "default_runtime", None) or "runc")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__
