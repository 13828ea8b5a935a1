"""A real dockerd and one CPU test image (llem-core + the echo backend) per test run.

.ci/setup-docker.sh starts the daemon and builds the base image; the image here is
built once per run from wheels made on the host (the build needs no network).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
BASE = "llem-test-base:bookworm"
IMAGE = "llem-test-echo:run"


def _docker_ok() -> str | None:
    """None when docker and the base image are there, else why not."""
    if shutil.which("docker") is None:
        return "no docker CLI (run .ci/setup-docker.sh as root)"
    try:
        import python_on_whales  # noqa: F401
    except ImportError:
        return "python-on-whales is not installed (pip install 'llem-core[docker]')"
    probe = subprocess.run(["docker", "image", "inspect", BASE], capture_output=True)
    if probe.returncode != 0:
        return f"no dockerd or no {BASE} image (run .ci/setup-docker.sh as root)"
    if sys.version_info[:2] != (3, 11):
        return "the test image's Debian python is 3.11; host wheels are for another Python"
    return None


@pytest.fixture(scope="session")
def echo_image() -> Iterator[str]:
    why = _docker_ok()
    if why:
        pytest.skip(why)
    context = Path(tempfile.mkdtemp(prefix="llem-echo-image-"))
    try:
        shutil.copy(Path(__file__).with_name("echo.Dockerfile"), context / "Dockerfile")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "-q",
                "-w",
                str(context / "wheels"),
                str(ROOT / "core"),
                str(ROOT / "examples" / "plugin-template"),
            ],
            check=True,
        )
        subprocess.run(
            ["docker", "build", "-q", "-t", IMAGE, str(context)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    finally:
        shutil.rmtree(context, ignore_errors=True)
    yield IMAGE


def containers_of(run_dir: Path) -> list[str]:
    """Ids of containers (running or not) that llem labelled with ``run_dir``."""
    out = subprocess.run(
        ["docker", "ps", "-aq", "--filter", f"label=llem.run={run_dir}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split()


def wait_no_containers(run_dir: Path, timeout_s: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout_s
    while (left := containers_of(run_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
