"""On a real NVIDIA GPU: workers forked from the fork server (llem.run.forkserver) measure
the GPU, and the server itself, with torch imported, never opens the GPU.

Run on the GPU machine: PYTHONPATH=core/src python3 -m pytest -m gpu tests/gpu -q
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.fakes.dist_info import announce

pytestmark = pytest.mark.gpu
torch = pytest.importorskip("torch")
pytest.importorskip("llem_pytorch")
if not torch.cuda.is_available():  # pragma: no cover - CPU machines
    pytest.skip("needs an NVIDIA GPU", allow_module_level=True)

REPO = Path(__file__).resolve().parents[2]

# In a fresh interpreter: the fork server is process-wide, and this one is clean.
SCRIPT = """\
import json, os, sys
from pathlib import Path
from llem.config.loader import load_config
from llem.run.study import run_study

study = load_config(Path("examples/quickstart.yaml"), profile="quick", overrides=[
    "devices=[0]", "energy.meter=nvml", "execution.cycles=3", "generation.max_new_tokens=64"])
result = run_study(study, out_dir=Path(sys.argv[1]), progress=False)

def children(pid):
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            yield int(stat.parent.name)

servers = []
for pid in children(os.getpid()):
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\\0", b" ").decode()
    if "forkserver" not in cmdline:
        continue
    fds = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            fds.append(os.readlink(fd))
        except OSError:
            pass
    maps = Path(f"/proc/{pid}/maps").read_text()
    servers.append({"pid": pid, "nvidia_fds": [f for f in fds if f.startswith("/dev/nvidia")],
                    "torch_loaded": "libtorch" in maps})
print(json.dumps({
    "status": result.status,
    "energy": [(r.status, r.energy.meter if r.energy else None,
                r.energy.gpu_j if r.energy else None) for r in result.experiments],
    "errors": [r.error.message for r in result.experiments if r.error],
    "servers": servers,
}))
"""


def _env(tmp_path: Path) -> dict[str, str]:
    """The environment for the script; on a source tree (no entry points installed, as
    on the GPU machine) a dist-info directory announces the pytorch plugin."""
    from importlib import metadata

    env = dict(os.environ)
    if any(ep.name == "pytorch" for ep in metadata.entry_points(group="llem")):
        return env
    site = announce(tmp_path / "site", "llem-pytorch", "0.0.0+source", "pytorch", "llem_pytorch")
    paths = [site, REPO / "core" / "src", REPO / "plugins" / "llem_pytorch" / "src"]
    env["PYTHONPATH"] = os.pathsep.join([*map(str, paths), env.get("PYTHONPATH", "")])
    return env


def test_forked_workers_measure_the_gpu_and_the_server_never_opens_it(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SCRIPT), str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env=_env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["status"] == "complete", got["errors"]
    assert len(got["energy"]) == 3
    for status, meter, gpu_j in got["energy"]:
        assert status == "ok" and meter == "nvml" and gpu_j > 0
    (server,) = got["servers"]
    assert server["torch_loaded"], "the fork server should have imported torch"
    assert server["nvidia_fds"] == [], "the fork server must not open the GPU"
