from __future__ import annotations

import subprocess
import sys

from llem.measure.environment import snapshot
from llem.plugins import PluginInfo
from llem.telemetry.devices import resolve_devices


def test_snapshot_records_gpus_driver_host_and_versions(fake_nvml, monkeypatch):
    fake_nvml.configure(
        gpus=[{"persistence": False, "power_limit_w": 350.0}, {}], cuda_driver=12040
    )
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    devices = resolve_devices([0])
    env = snapshot(
        devices,
        [
            PluginInfo("fake", "llem-fake", "1.2", "ok"),
            PluginInfo("bad", "llem-bad", "0.1", "broken", "x"),
        ],
    )
    gpu = env.gpus[0]
    assert (gpu.cuda_index, gpu.nvml_index) == (0, 1)
    assert gpu.compute_capability == "9.0" and gpu.persistence_mode is True
    assert gpu.power_limit_w == 700.0 and gpu.sm_clock_mhz == 1980
    assert env.driver_version == "580.159.04" and env.cuda_driver_version == "12.4"
    assert env.cuda_visible_devices == "1,0"
    assert env.plugin_versions == {"fake": "1.2"}
    assert env.cpu_count >= 1 and env.ram_bytes > 0 and env.python
    assert "nvidia-ml-py" in env.engine_versions


def test_snapshot_without_nvml_records_why(fake_nvml):
    fake_nvml.configure(available=False)
    env = snapshot([])
    assert env.gpus == () and "NVML" in env.gpu_unavailable_reason


def test_engine_versions_never_import_the_engines():
    code = (
        "import sys; from llem.measure.environment import engine_versions, snapshot; "
        "engine_versions(); import llem.measure.lifecycle, llem.run.worker; "
        "bad = [m for m in ('torch', 'transformers', 'vllm', 'zeus', 'codecarbon') "
        "if m in sys.modules]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
