"""bench/vllm_bench.py runs end to end on the fake vLLM and a fake NVML (short windows),
so the GPU proof does not rot between GPU sessions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from llem_vllm_testutil import FAKES

REPO = Path(__file__).resolve().parents[3]

FAKE_PYNVML = textwrap.dedent('''
    """Just enough pynvml for the bench: energy grows at 100 W, 1 GiB in use."""
    import time
    _T0 = time.monotonic()
    class _Mem:
        used = 1 << 30
    def nvmlInit(): pass
    def nvmlDeviceGetHandleByIndex(i): return i
    def nvmlDeviceGetName(h): return "Fake GPU"
    def nvmlSystemGetDriverVersion(): return "0.0"
    def nvmlDeviceGetTotalEnergyConsumption(h): return int((time.monotonic() - _T0) * 1e5)
    def nvmlDeviceGetPowerUsage(h): return 100000
    def nvmlDeviceGetMemoryInfo(h): return _Mem()
''')


def test_the_bench_writes_its_report(tmp_path):
    (tmp_path / "pynvml.py").write_text(FAKE_PYNVML)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(FAKES)]),
        "LLEM_FAKE_VLLM_STEP_S": "0.0005",
    }
    out = tmp_path / "bench.md"
    proc = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "vllm_bench.py"),
            "--reps",
            "2",
            "--window-s",
            "0.2",
            "--idle-s",
            "0.1",
            "--out",
            str(out),
        ],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert out.is_file(), proc.stdout + proc.stderr
    data = json.loads(out.with_suffix(".json").read_text())
    assert [s["level"] for s in data["summary"]] == ["1", "8", "64", "queue"]
    assert len(data["rows"]) == 16
    assert all("ttft" in r for r in data["rows"] if r["variant"] == "llem")
    assert data["memory"]["returned"] is True
    text = out.read_text()
    assert "| concurrency |" in text and "Verdict" in text and "Command:" in text
