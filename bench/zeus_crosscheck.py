"""GPU proof for llem-zeus: Zeus and NVML GPU energy over the same window agree within 1 %.

Two measurements, both on GPU 0 by default:

* ``pipeline`` -- the issue's proof: one llem experiment with ``energy.meter: zeus`` and
  ``energy.cross_check: [nvml]`` on a random-weight Llama-3.2-1B (``builtin:llama-3.2-1b``,
  ``weights: random``), window >= 10 s (the workload is enlarged and the run repeated once
  if the first window is shorter). Needs the core lifecycle, the nvml meter and the
  pytorch backend of the other streams.
* ``direct`` -- the plugin alone: ZeusMeter around >= 10 s of bf16 matrix products, with
  the raw NVML energy counter read by this script at the same edges, and the device
  identity checked against CUDA's own UUID (torch). Needs only torch, pynvml and zeus.

Run from the repository root on the GPU machine (no ``pip install -e`` needed: the script
puts core/src and plugins/*/src on the path and announces the plugins' entry points
through a temporary dist-info directory, which spawned workers inherit)::

    python3 bench/zeus_crosscheck.py [--mode both|pipeline|direct] [--out FILE.md]

Writes the raw numbers to ``--out`` (default ``$OUT/zeus_crosscheck.md``, else
bench/results/zeus_crosscheck.md) plus a ``.json`` beside it; exit status 0 only when
every mode run agrees within ``--tolerance`` (default 1 %) over a window >= 10 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PLUGIN_DISTRIBUTIONS = {  # entry-point name -> (distribution, import package)
    "pytorch": ("llem-pytorch", "llem_pytorch"),
    "zeus": ("llem-zeus", "llem_zeus"),
    "codecarbon": ("llem-codecarbon", "llem_codecarbon"),
}


def use_source_tree() -> None:
    """Import llem and its plugins from this checkout, here and in spawned workers."""
    paths = [str(REPO / "core" / "src")] + sorted(str(p) for p in REPO.glob("plugins/*/src"))
    for path in reversed(paths):
        if path not in sys.path:
            sys.path.insert(0, path)
    _prepend_env_path(paths)


def announce_entry_points() -> list[str]:
    """Write dist-info dirs with ``[llem]`` entry points for plugins importable from the
    source tree but not installed, so ``llem.plugins`` discovers them. Returns names."""
    import importlib
    import importlib.util
    from importlib import metadata

    present = {ep.name for ep in metadata.entry_points(group="llem")}
    root = Path(tempfile.mkdtemp(prefix="llem-entry-points-"))
    added = []
    for name, (dist, package) in PLUGIN_DISTRIBUTIONS.items():
        if name in present or importlib.util.find_spec(package) is None:
            continue
        info = root / f"{dist.replace('-', '_')}-0.0.0+source.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.0.0+source\n"
        )
        (info / "entry_points.txt").write_text(f"[llem]\n{name} = {package}\n")
        added.append(name)
    sys.path.insert(0, str(root))
    _prepend_env_path([str(root)])
    importlib.invalidate_caches()
    return added


def _prepend_env_path(paths: list[str]) -> None:
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))


def gpu_facts(index: int) -> dict[str, Any]:
    import pynvml

    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByIndex(index)  # NVML index; fine on a 1-GPU machine
    return {
        "name": _text(pynvml.nvmlDeviceGetName(handle)),
        "uuid": _text(pynvml.nvmlDeviceGetUUID(handle)),
        "driver": _text(pynvml.nvmlSystemGetDriverVersion()),
        "power_limit_w": pynvml.nvmlDeviceGetPowerManagementLimit(handle) / 1000,
        "persistence_mode": bool(pynvml.nvmlDeviceGetPersistenceMode(handle)),
        "temperature_c": pynvml.nvmlDeviceGetTemperature(handle, pynvml.NVML_TEMPERATURE_GPU),
    }


def run_pipeline(args: argparse.Namespace, run_dir: Path) -> dict[str, Any]:
    """One llem experiment (zeus primary, nvml cross-check); enlarged once if too short."""
    from llem.config.schema import (
        BaselineConfig,
        DatasetConfig,
        EnergyConfig,
        ExecutionConfig,
        ExperimentConfig,
        GenerationConfig,
        OutputConfig,
        WarmupConfig,
    )
    from llem.converter import converter
    from llem.run.api import run_experiment
    from llem_pytorch.config import PytorchConfig
    from llem_zeus.config import ZeusConfig

    prompts = args.prompts
    for attempt in (1, 2):
        cfg = ExperimentConfig(
            model="builtin:llama-3.2-1b",
            backend="pytorch",
            weights="random",
            precision="bf16",
            name="zeus-crosscheck",
            dataset=DatasetConfig(num_prompts=prompts, input_len=256),
            generation=GenerationConfig(max_new_tokens=args.new_tokens),
            warmup=WarmupConfig(runs=1, thermal_floor_s=args.thermal_floor_s),
            baseline=BaselineConfig(enabled=False),
            energy=EnergyConfig(meter="zeus", cross_check=("nvml",)),
            devices=(args.gpu,),
            execution=ExecutionConfig(cycles=1, config_gap_s=0, cycle_gap_s=0),
            output=OutputConfig(dir=str(run_dir)),
            sections={"zeus": ZeusConfig(), "pytorch": PytorchConfig(batch_size=args.batch_size)},
        )
        result = run_experiment(cfg, out_dir=run_dir, progress=False)
        if result.status != "ok":
            return {
                "mode": "pipeline",
                "ok": False,
                "error": converter.unstructure(result.error),
                "prompts": prompts,
            }
        window_s = result.phases.window_s if result.phases else None
        if window_s is None or window_s >= args.min_window_s or attempt == 2:
            break
        prompts = int(prompts * args.min_window_s * 1.3 / max(window_s, 0.1)) + 1
        print(f"window {window_s:.2f} s < {args.min_window_s} s: rerun with {prompts} prompts")
    energy = result.energy
    if energy is None:
        return {"mode": "pipeline", "ok": False, "error": "the result has no energy section"}
    readings = {r.meter: r for r in energy.readings}
    zeus, nvml = readings.get("zeus"), readings.get("nvml")
    if zeus is None or nvml is None or zeus.gpu_total_j is None or nvml.gpu_total_j is None:
        return {
            "mode": "pipeline",
            "ok": False,
            "window_s": window_s,
            "error": "a zeus or nvml GPU reading is missing",
            "energy": converter.unstructure(energy),
        }
    rel = (zeus.gpu_total_j - nvml.gpu_total_j) / nvml.gpu_total_j
    return {
        "mode": "pipeline",
        "prompts": prompts,
        "new_tokens": args.new_tokens,
        "batch_size": args.batch_size,
        "window_s": window_s,
        "zeus_gpu_j": dict(zeus.gpu_j),
        "nvml_gpu_j": dict(nvml.gpu_j),
        "rel_diff": rel,
        "core_rel_diff": dict(energy.cross_check_rel_diff),
        "zeus_method": zeus.method,
        "nvml_method": nvml.method,
        "zeus_notes": list(zeus.notes),
        "nvml_notes": list(nvml.notes),
        "zeus_cpu_j": zeus.cpu_j,
        "zeus_dram_j": zeus.dram_j,
        "output_tokens": result.workload.output_tokens if result.workload else None,
        "warnings": [w.code for w in result.warnings],
        "energy": converter.unstructure(energy),
        "ok": abs(rel) <= args.tolerance and (window_s or 0.0) >= args.min_window_s,
    }


def run_direct(args: argparse.Namespace) -> dict[str, Any]:
    """ZeusMeter vs this script's own NVML counter reads, over bf16 matmuls."""
    import pynvml
    import torch
    from llem.interfaces import Device
    from llem_zeus.meter import ZeusMeter

    torch.cuda.set_device(0)
    props = torch.cuda.get_device_properties(0)
    cuda_uuid = "GPU-" + str(props.uuid)
    pynvml.nvmlInit()
    handle = pynvml.nvmlDeviceGetHandleByUUID(cuda_uuid)
    try:
        from llem.telemetry.devices import resolve_devices

        devices = tuple(resolve_devices([0]))
        resolved_by = "llem.telemetry.devices.resolve_devices"
    except ImportError:
        bus_id = pynvml.nvmlDeviceGetPciInfo(handle).busId
        devices = (
            Device(
                cuda_index=0,
                nvml_index=pynvml.nvmlDeviceGetIndex(handle),
                uuid=cuda_uuid,
                pci_bus_id=_text(bus_id),
                name=props.name,
                memory_total_bytes=props.total_memory,
            ),
        )
        resolved_by = "torch UUID (resolve_devices not available)"
    meter = ZeusMeter()
    meter.prepare(devices)
    a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
    for _ in range(20):  # warm up cuBLAS
        a @ b
    torch.cuda.synchronize()
    counter_start = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    meter.start(devices)
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < args.min_window_s * 1.2:
        for _ in range(50):
            a @ b
        torch.cuda.synchronize()
    reading = meter.stop()
    counter_end = pynvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    window_s = time.perf_counter() - t0
    del a, b
    torch.cuda.empty_cache()
    raw_j = (counter_end - counter_start) / 1000.0
    zeus_j = reading.gpu_total_j
    rel = None if zeus_j is None else (zeus_j - raw_j) / raw_j
    return {
        "mode": "direct",
        "cuda_uuid": cuda_uuid,
        "devices": [d.uuid for d in devices],
        "resolved_by": resolved_by,
        "identity_ok": devices[0].uuid == cuda_uuid,
        "window_s": window_s,
        "zeus_gpu_j": dict(reading.gpu_j or {}),
        "raw_counter_j": raw_j,
        "rel_diff": rel,
        "zeus_method": reading.method,
        "zeus_cpu_j": reading.cpu_j,
        "zeus_dram_j": reading.dram_j,
        "zeus_notes": list(reading.notes),
        "zeus_details": dict(reading.details),
        "ok": rel is not None
        and abs(rel) <= args.tolerance
        and devices[0].uuid == cuda_uuid
        and window_s >= args.min_window_s,
    }


def report(args: argparse.Namespace, facts: dict, outcomes: list[dict], added: list[str]) -> str:
    lines = [
        "# llem-zeus cross-check: Zeus vs NVML GPU energy over one window",
        "",
        f"- command: `{' '.join([Path(sys.executable).name, *sys.argv])}`",
        f"- date (UTC): {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}",
        f"- host: {platform.node()}, python {platform.python_version()}",
        f"- GPU {args.gpu}: {facts.get('name')} ({facts.get('uuid')}), driver "
        f"{facts.get('driver')}, power limit {facts.get('power_limit_w')} W, persistence "
        f"{facts.get('persistence_mode')}, {facts.get('temperature_c')} degC at start",
        f"- versions: {_versions()}",
        f"- entry points announced from the source tree: {', '.join(added) or 'none'}",
        f"- tolerance {args.tolerance:.1%}, minimum window {args.min_window_s} s",
        "",
        "| mode | window s | Zeus GPU J | reference GPU J | rel. diff | pass |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for o in outcomes:
        ref = sum(o["nvml_gpu_j"].values()) if o.get("nvml_gpu_j") else o.get("raw_counter_j")
        zeus = sum(o["zeus_gpu_j"].values()) if o.get("zeus_gpu_j") else None
        rel = o.get("rel_diff")
        lines.append(
            f"| {o['mode']} | {_num(o.get('window_s'))} | {_num(zeus)} | {_num(ref)} | "
            f"{'-' if rel is None else f'{rel:+.4%}'} | {'yes' if o.get('ok') else 'NO'} |"
        )
    lines += [
        "",
        "Reference: the llem nvml meter (pipeline) or this script's raw "
        "nvmlDeviceGetTotalEnergyConsumption reads at the same edges (direct).",
        "",
        "## Raw",
        "",
        "```json",
        json.dumps(outcomes, indent=2, default=str),
        "```",
        "",
    ]
    return "\n".join(lines)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _num(value: Any) -> str:
    return "-" if value is None else f"{value:,.3f}"


def _versions() -> str:
    from importlib import metadata

    found = []
    for dist in ("zeus", "nvidia-ml-py", "torch", "transformers", "llem-core", "llem-zeus"):
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist} (source tree or absent)")
    return ", ".join(found)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=("both", "pipeline", "direct"), default="both")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--gpu", type=int, default=0, help="CUDA index (pipeline mode)")
    parser.add_argument("--prompts", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=8, help="pytorch.batch_size")
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--thermal-floor-s", type=float, default=10.0)
    parser.add_argument("--min-window-s", type=float, default=10.0)
    parser.add_argument("--tolerance", type=float, default=0.01)
    args = parser.parse_args()
    out = args.out or (
        Path(os.environ["OUT"]) / "zeus_crosscheck.md"
        if os.environ.get("OUT")
        else REPO / "bench" / "results" / "zeus_crosscheck.md"
    )
    use_source_tree()
    added = announce_entry_points()
    try:
        facts = gpu_facts(args.gpu)
    except Exception as exc:  # still run: each mode reports its own failure
        facts = {"error": f"{type(exc).__name__}: {exc}"}
    outcomes = []
    if args.mode in ("both", "direct"):
        outcomes.append(_guarded(run_direct, args))
    if args.mode in ("both", "pipeline"):
        with tempfile.TemporaryDirectory(prefix="llem-zeus-crosscheck-") as run_dir:
            outcomes.append(_guarded(run_pipeline, args, Path(run_dir)))
    text = report(args, facts, outcomes, added)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    out.with_suffix(".json").write_text(json.dumps(outcomes, indent=2, default=str))
    print(text.split("## Raw")[0])
    print(f"written: {out} and {out.with_suffix('.json')}")
    return 0 if outcomes and all(o.get("ok") for o in outcomes) else 1


def _guarded(fn: Any, *args: Any) -> dict[str, Any]:
    """A failing mode is reported, not fatal: the other mode's numbers still count."""
    import traceback

    try:
        return fn(*args)
    except Exception as exc:
        return {
            "mode": fn.__name__.removeprefix("run_"),
            "ok": False,
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc()[-3000:],
        }


if __name__ == "__main__":
    sys.exit(main())
