"""bench/serving_gpu.py runs its whole study on the fake vLLM and the fake NVML (short
levels), so the GPU proof the lead runs once does not rot: every level ok, the
steady-state energy within 0.5 % of the bench's own counter reads, the report written."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from llem_vllm_testutil import FAKES

REPO = Path(__file__).resolve().parents[3]


def test_the_serving_bench_writes_its_report(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(FAKES / "pynvml.py", site / "pynvml.py")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(site), str(FAKES)]),
        "LLEM_FAKE_NVML": json.dumps({"gpus": [{}], "available": True}),
        "LLEM_CACHE_DIR": str(tmp_path / "cache"),
        "LLEM_FAKE_VLLM_STEP_S": "0.002",
    }
    env.pop("CUDA_VISIBLE_DEVICES", None)
    args = ["--duration-s", "1", "--baseline-s", "0.3", "--gap-s", "0", "--floor-s", "0"]
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "serving_gpu.py"), *args, "--out-dir", str(tmp_path)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "serving_gpu_vllm.json").read_text())
    levels = report["levels"]
    assert [lv["name"] for lv in levels] == [
        "poisson-1",
        "poisson-4",
        "poisson-16",
        "poisson-64",
        "concurrency-64",
    ]
    for level in levels:
        assert level["status"] == "ok"
        assert level["steady_j_per_token"] and level["raw_counter_j"]
        assert abs(level["vs_raw_pct"]) < 0.5
        assert level["prefill_j"] is not None and level["decode_j"] is not None
    assert "ML.ENERGY" in (tmp_path / "serving_gpu_vllm.md").read_text()
