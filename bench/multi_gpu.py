"""GPU bench of issue 14 (for a two-GPU machine): one small study, three ways.

1. ``alone``   -- executor local, parallel: none: one experiment at a time on GPU 0
   (the one-GPU reference wall time, and J/token of each configuration run alone);
2. ``per_gpu`` -- executor local, parallel: per_gpu: side by side on both GPUs;
3. ``ray``     -- executor ray (a local Ray started by llem, num_gpus=1 per task).

For each: the study's wall time and the speed-up over ``alone``; for every experiment,
each GPU's window energy as llem reported it against the raw NVML counter
(nvmlDeviceGetTotalEnergyConsumption) sampled by this script every 10 ms on the same
clock (time.perf_counter_ns is CLOCK_MONOTONIC, shared by every process), over the
window read from the experiment's timeseries.parquet (criterion: <= 0.5 %); and, per
configuration, J/token alone vs beside a neighbour (the interference of sharing a node).

Prerequisites on the GPU machine (from the repository root)::

    pip install -e 'core[ray]' -e plugins/llem_pytorch
    python bench/multi_gpu.py --model builtin:llama-3.2-1b --out-dir bench/results

Writes ``multi_gpu.json`` and ``multi_gpu.md`` to --out-dir ($OUT, else bench/results).
Claims nothing by itself: the numbers are whatever the machine gives.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import threading
import time
from pathlib import Path
from typing import Any

STUDY = """\
name: multi-gpu-{mode}
model: {model}
backend: pytorch
weights: random
precision: bf16
dataset: {{num_prompts: {prompts}, input_len: 256}}
generation: {{max_new_tokens: {tokens}}}
warmup: {{runs: 2, thermal_floor_s: 5}}
baseline: {{enabled: true, duration_s: 10}}
energy: {{min_window_s: 5}}
execution:
  cycles: {cycles}
  config_gap_s: 5
  cycle_gap_s: 5
  executor: {executor}
  parallel: {parallel}
output: {{dir: {out}}}
sweep:
  pytorch.batch_size: [4, 8, 16, 32]
"""

MODES = {
    "alone": ("local", "none"),
    "per_gpu": ("local", "per_gpu"),
    "ray": ("ray", "none"),
}


class CounterLog:
    """The raw NVML energy counter of every GPU, every 10 ms, with perf_counter_ns."""

    def __init__(self) -> None:
        import pynvml

        pynvml.nvmlInit()
        self.nvml = pynvml
        n = pynvml.nvmlDeviceGetCount()
        self.handles = {
            pynvml.nvmlDeviceGetUUID(h): h
            for h in (pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(n))
        }
        self.samples: dict[str, list[tuple[int, int]]] = {u: [] for u in self.handles}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for uuid, h in self.handles.items():
                t = time.perf_counter_ns()
                self.samples[uuid].append((t, self.nvml.nvmlDeviceGetTotalEnergyConsumption(h)))
            time.sleep(0.01)

    def __enter__(self) -> CounterLog:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def joules(self, uuid: str, t0_ns: int, t1_ns: int) -> float | None:
        """Counter difference over [t0, t1], linearly interpolated between samples."""
        s = self.samples.get(uuid, [])
        if not s or s[0][0] > t0_ns or s[-1][0] < t1_ns:
            return None
        return (_at(s, t1_ns) - _at(s, t0_ns)) / 1000.0


def _at(samples: list[tuple[int, int]], t: int) -> float:
    for (ta, ea), (tb, eb) in zip(samples, samples[1:], strict=False):
        if ta <= t <= tb:
            return ea + (eb - ea) * ((t - ta) / (tb - ta) if tb > ta else 0.0)
    return float(samples[-1][1])


def window_ns(run_dir: Path, result: Any) -> tuple[int, int] | None:
    """The window [t0, t1] on the worker's perf_counter clock, from its timeseries."""
    import pyarrow.parquet as pq

    if not result.timeseries_file or result.phases is None or not result.phases.window_s:
        return None
    table = pq.read_table(run_dir / result.timeseries_file, columns=["t_ns", "t_s"])
    t_ns, t_s = table.column("t_ns").to_pylist(), table.column("t_s").to_pylist()
    t0 = int(t_ns[0] - t_s[0] * 1e9)
    return t0, t0 + int(result.phases.window_s * 1e9)


def run_mode(mode: str, args: argparse.Namespace, counters: CounterLog) -> dict[str, Any]:
    from llem.config.loader import loads
    from llem.run.study import run_study

    executor, parallel = MODES[mode]
    text = STUDY.format(
        mode=mode,
        model=args.model,
        prompts=args.prompts,
        tokens=args.tokens,
        cycles=args.cycles,
        executor=executor,
        parallel=parallel,
        out=args.work_dir,
    )
    study = loads(text, f"multi_gpu_{mode}.yaml")
    t0 = time.monotonic()
    result = run_study(study, progress=False)
    wall = time.monotonic() - t0
    run_dir = Path(result.run_dir)
    rows = []
    for r in result.experiments:
        row: dict[str, Any] = {
            "id": r.id,
            "config": r.config_hash,
            "status": r.status,
            "neighbours": list(r.placement.neighbours) if r.placement else [],
            "j_per_token": r.energy.energy_per_output_token_j if r.energy else None,
            "gpus": {},
        }
        window = window_ns(run_dir, r) if r.status == "ok" else None
        for uuid, llem_j in ((r.energy.per_device_j or {}) if r.energy else {}).items():
            raw = counters.joules(uuid, *window) if window else None
            rel = None if raw in (None, 0) else (llem_j - raw) / raw
            row["gpus"][uuid] = {"llem_j": llem_j, "raw_j": raw, "rel_diff": rel}
        rows.append(row)
    return {"mode": mode, "status": result.status, "wall_s": wall, "experiments": rows}


def interference(alone: dict, beside: dict) -> dict[str, dict[str, float | None]]:
    """Mean J/token per configuration run alone vs with a neighbour on the node."""

    def means(run: dict, with_neighbour: bool) -> dict[str, float]:
        by: dict[str, list[float]] = {}
        for e in run["experiments"]:
            if e["j_per_token"] is not None and bool(e["neighbours"]) == with_neighbour:
                by.setdefault(e["config"], []).append(e["j_per_token"])
        return {c: statistics.fmean(v) for c, v in by.items()}

    a, b = means(alone, False), means(beside, True)
    return {
        c: {"alone": a[c], "beside": b.get(c), "ratio": b[c] / a[c] if c in b else None} for c in a
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--model", default="builtin:llama-3.2-1b")
    p.add_argument("--prompts", type=int, default=64)
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--cycles", type=int, default=3)
    p.add_argument("--modes", default="alone,per_gpu,ray")
    p.add_argument("--out-dir", default=os.environ.get("OUT", "bench/results"))
    p.add_argument("--work-dir", default="/tmp/llem-multi-gpu")
    args = p.parse_args()

    runs: dict[str, dict] = {}
    with CounterLog() as counters:
        for mode in args.modes.split(","):
            runs[mode] = run_mode(mode, args, counters)
    base = runs.get("alone", {}).get("wall_s")
    for run in runs.values():
        run["speedup_vs_alone"] = base / run["wall_s"] if base else None
    diffs = [
        abs(g["rel_diff"])
        for run in runs.values()
        for e in run["experiments"]
        for g in e["gpus"].values()
        if g["rel_diff"] is not None
    ]
    report = {
        "gpus": len(counters.handles),
        "runs": runs,
        "max_abs_rel_diff_vs_raw_counter": max(diffs) if diffs else None,
        "energy_within_0_5_percent": bool(diffs) and max(diffs) <= 0.005,
        "interference": {
            m: interference(runs["alone"], runs[m])
            for m in runs
            if m != "alone" and "alone" in runs
        },
    }
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "multi_gpu.json").write_text(json.dumps(report, indent=2))
    lines = [
        "# multi_gpu bench (issue 14)",
        "",
        "| mode | status | wall s | speed-up |",
        "|---|---|---|---|",
    ]
    for m, run in runs.items():
        sp = run["speedup_vs_alone"]
        lines.append(
            f"| {m} | {run['status']} | {run['wall_s']:.1f} | {sp:.2f} |"
            if sp
            else f"| {m} | {run['status']} | {run['wall_s']:.1f} | - |"
        )
    lines += [
        "",
        f"max |llem - raw NVML counter| / raw: {report['max_abs_rel_diff_vs_raw_counter']}",
    ]
    for m, table in report["interference"].items():
        lines += ["", f"J/token alone vs beside a neighbour ({m}):"]
        lines += [
            f"- {c}: {v['alone']:.4g} vs {v['beside']} (ratio {v['ratio']})"
            for c, v in table.items()
        ]
    (out / "multi_gpu.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if report["energy_within_0_5_percent"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
