"""GPU proof of issue 12 (serving mode): one llem study serving a random-weight model at
several load levels, checked against the raw NVML energy counter.

``--mode vllm`` (default): vLLM 0.26 in process (AsyncLLM) serving ``builtin:llama-3.1-8b``
(bf16, random weights, max_num_seqs 64), 256-token prompts, 128 new tokens (fixed
length), at Poisson rates 1, 4, 16, 64 req/s and at closed-loop concurrency 64, each
level ``--duration-s`` long (default 45 s), one cycle, one study (so one engine start
when the worker reuses the engine across load levels).

``--mode pytorch``: the same study shape through transformers' continuous batching
(``ContinuousBatchingManager``) on ``builtin:llama-3.2-1b`` (needs no vLLM wheels), at
Poisson rates 1, 4, 16 and concurrency 16.

Per level the summary gives: steady-state J/token (and idle-adjusted), goodput (req/s
meeting TTFT p90 <= 0.5 s and TPOT p90 <= 0.05 s) and SLO attainment, TTFT/TPOT p90,
the prefill/decode energy split and its rule, and the steady-state energy held against
this script's own reads of ``nvmlDeviceGetTotalEnergyConsumption`` (a poller thread in
THIS process, every 50 ms, stamped with ``perf_counter_ns`` -- CLOCK_MONOTONIC, the
worker's clock too -- and interpolated at the steady-state window's edges, which come
from the result: window start from timeseries.parquet (t_ns - t_s) plus
steady_state.start_s/duration_s). Also the study wall time / the sum of the measured
windows, the number of engine starts, and for vllm the concurrency-64 steady J/token
beside the ML.ENERGY leaderboard's 0.12 J/token (Llama-3.1-8B, H100, vLLM, batch 64).
The script states numbers; it claims nothing.

Run from the repository root on the GPU machine::

    PYTHONPATH=<vllm site dir>:<wheels dir> python3 bench/serving_gpu.py --mode vllm
    PYTHONPATH=<wheels dir> python3 bench/serving_gpu.py --mode pytorch

(no install of llem needed: core/src and plugins/*/src go on sys.path, and the plugin is
announced through a temporary dist-info so spawned workers find it). Writes
``serving_gpu_<mode>.md`` / ``.json`` and the study's run directory to ``--out-dir``
(default $OUT, else bench/results/). ``--print-config`` only writes and validates the
study YAML (CPU-safe).

GPU time: baseline 15 s + per level (warmup <= 10 s, floor 5 s, --duration-s 40 s, drain,
gap 5 s) ~ 65 s, plus engine starts: ONE when the worker reuses the engine across load
levels (issue 12 item 9), else one per level (vLLM 8B on the H200: 225 s cold, 79 s warm)
-- ~6-7 min with reuse, ~14 min without. Without reuse, run fewer levels per call
(``--rates 1,4 --concurrency 0``, then ``--rates 16,64``) or shorten ``--duration-s``.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import sys
import tempfile
import threading
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
MLENERGY_J_PER_TOKEN = 0.12  # ML.ENERGY leaderboard: Llama-3.1-8B, H100, vLLM, batch 64
SLO = {"ttft_s": 0.5, "tpot_s": 0.05, "percentile": 90}
MODES: dict[str, dict[str, Any]] = {
    "vllm": {
        "model": "builtin:llama-3.1-8b",
        "plugin": ("llem-vllm", "vllm", "llem_vllm"),
        "section": {"vllm": {"max_num_seqs": 64, "gpu_memory_utilization": 0.85}},
        "rates": (1, 4, 16, 64),
        "concurrency": 64,
    },
    "pytorch": {
        "model": "builtin:llama-3.2-1b",
        "plugin": ("llem-pytorch", "pytorch", "llem_pytorch"),
        "section": {"pytorch": {"max_requests_per_batch": 32}},
        "rates": (1, 4, 16),
        "concurrency": 16,
    },
}


def study_yaml(mode: str, args: argparse.Namespace) -> str:
    """The study: one experiment per load level, everything else shared."""
    spec, duration_s = MODES[mode], args.duration_s
    rates = [float(r) for r in args.rates.split(",") if r] if args.rates else spec["rates"]
    c = spec["concurrency"] if args.concurrency is None else args.concurrency
    levels = [f"  - {{name: poisson-{r:g}, load: {{rate: {r}}}}}" for r in rates]
    if c:
        levels.append(
            f"  - {{name: concurrency-{c}, load: {{arrival: concurrency, concurrency: {c}}}}}"
        )
    most = int(max(rates, default=c or 1) * duration_s * 1.2) + 200
    ((backend, knobs),) = spec["section"].items()
    section = f"{backend}: {{{', '.join(f'{k}: {v}' for k, v in knobs.items())}}}"
    return f"""# written by bench/serving_gpu.py --mode {mode}
name: serving-gpu-{mode}
model: {spec["model"]}
weights: random
precision: bf16
backend: {mode}
{section}
dataset: {{source: synthetic, num_prompts: {most}, input_len: 256}}
generation: {{max_new_tokens: 128}}
warmup: {{thermal_floor_s: {args.floor_s}}}
baseline: {{duration_s: {args.baseline_s}}}
energy: {{meter: nvml}}
load: {{mode: serving, arrival: poisson, duration_s: {duration_s}, warmup_requests: 16,
        warmup_s: 10}}
slo: {{ttft_s: {SLO["ttft_s"]}, tpot_s: {SLO["tpot_s"]}, percentile: {SLO["percentile"]}}}
execution: {{cycles: {args.cycles}, order: sequential, config_gap_s: {args.gap_s}}}
experiments:
{chr(10).join(levels)}
"""


def put_sources_on_path(*plugins: tuple[str, str, str]) -> None:
    """core/src and each plugin's src on sys.path and PYTHONPATH; a dist-info announcing
    a plugin's entry point when it is not installed (workers inherit both). A plugin is
    (distribution, entry point, module)."""
    paths = [str(REPO / "core" / "src")]
    installed = {ep.name for ep in metadata.entry_points(group="llem")}
    root = Path(tempfile.mkdtemp(prefix="llem-entry-points-"))
    for dist, entry, module in plugins:
        paths.append(str(REPO / "plugins" / module / "src"))
        if entry in installed:
            continue
        info = root / f"{module}-0.0.0+source.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0+src\n")
        (info / "entry_points.txt").write_text(f"[llem]\n{entry} = {module}\n")
    paths.insert(0, str(root))
    for p in reversed(paths):
        if p not in sys.path:
            sys.path.insert(0, p)
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(paths + ([old] if old else []))


class CounterPoller:
    """Reads of GPU 0's energy counter, back to back (~4 ms a read on an H100, every
    ``period_s`` at most), in this process.

    The counter advances in steps (about every 100 ms on an H100), so a read tells the
    energy up to its last step, not up to the read: the reference keeps only the first
    read after each step, stamped between it and the read before (within one read of the
    step), and interpolates linearly between steps. ``step_ms`` says how often it
    stepped."""

    def __init__(self, index: int = 0, period_s: float = 0.002) -> None:
        import pynvml

        pynvml.nvmlInit()
        self._nvml = pynvml
        self._handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.uuid = pynvml.nvmlDeviceGetUUID(self._handle)
        self.reads: list[tuple[int, int]] = []  # (mid-read perf_counter_ns, mJ)
        self.t: list[int] = []
        self.mj: list[int] = []
        self._stop = threading.Event()
        self._period = period_s
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            before = time.perf_counter_ns()
            mj = int(self._nvml.nvmlDeviceGetTotalEnergyConsumption(self._handle))
            self.reads.append(((before + time.perf_counter_ns()) // 2, mj))
            self._stop.wait(self._period)

    def __enter__(self) -> CounterPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        for (t0, e0), (t1, e1) in zip(self.reads, self.reads[1:], strict=False):
            if e1 != e0:
                self.t.append((t0 + t1) // 2)
                self.mj.append(e1)

    def step_ms(self) -> float | None:
        gaps = sorted(b - a for a, b in zip(self.t, self.t[1:], strict=False))
        return gaps[len(gaps) // 2] / 1e6 if gaps else None

    def read_ms(self) -> float | None:
        gaps = sorted(b[0] - a[0] for a, b in zip(self.reads, self.reads[1:], strict=False))
        return gaps[len(gaps) // 2] / 1e6 if gaps else None

    def joules_between(self, t0_ns: int, t1_ns: int) -> float | None:
        """Counter difference between two instants, linearly interpolated."""
        at0, at1 = self._at(t0_ns), self._at(t1_ns)
        return None if at0 is None or at1 is None else (at1 - at0) / 1e3

    def _at(self, t_ns: int) -> float | None:
        i = bisect.bisect_left(self.t, t_ns)
        if i == 0 or i >= len(self.t):
            return None
        t0, t1, e0, e1 = self.t[i - 1], self.t[i], self.mj[i - 1], self.mj[i]
        return e0 + (e1 - e0) * (t_ns - t0) / (t1 - t0)


def read_power(run_dir: Path, timeseries_file: str | None) -> tuple[int, list[Any]] | None:
    """The measured window's opening on the worker's clock (t_ns - t_s of any sample) and
    the sampled power as (t_ns, watts), from timeseries.parquet."""
    if not timeseries_file:
        return None
    import pyarrow.parquet as pq

    table = pq.read_table(run_dir / timeseries_file, columns=["t_ns", "t_s", "power_w"])
    rows = table.to_pylist()
    if not rows:
        return None
    t0 = int(rows[0]["t_ns"] - rows[0]["t_s"] * 1e9)
    return t0, sorted((r["t_ns"], r["power_w"]) for r in rows if r["power_w"] is not None)


def level_row(result: Any, run_dir: Path, poller: CounterPoller) -> dict[str, Any]:
    """The figures of one load level's result."""
    row: dict[str, Any] = {"name": result.name, "cycle": result.cycle, "status": result.status}
    if result.status != "ok":
        row["error"] = getattr(result.error, "message", None)
        return row
    from llem.telemetry.integrate import energy_j

    ss, energy, perf, slo = result.steady_state, result.energy, result.performance, result.slo
    row.update(
        steady_j_per_token=ss and ss.energy_per_output_token_j,
        steady_energy_j=ss and ss.energy_j,
        steady_adjusted_j=ss and ss.adjusted_j,
        steady_s=ss and ss.duration_s,
        steady_rule=ss and ss.rule,
        steady_null_reason=ss and ss.null_reason,
        whole_j_per_token=result.whole_run and result.whole_run.energy_per_output_token_j,
        goodput_rps=slo and slo.goodput_rps,
        slo_attainment=slo and slo.attainment,
        ttft_p90_s=perf and perf.ttft_s.p90,
        tpot_p90_s=perf and perf.tpot_s and perf.tpot_s.p90,
        prefill_j=energy and energy.prefill_j,
        decode_j=energy and energy.decode_j,
        split_rule=energy and energy.phase_split_rule,
        window_s=result.phases and result.phases.window_s,
        load_s=result.phases and result.phases.load_s,
        offered_rps=result.load and result.load.offered_rate_rps,
        achieved_rps=result.load and result.load.achieved_rate_rps,
        overloaded=result.load and result.load.overloaded,
        warnings=[w.code for w in result.warnings],
    )
    series = read_power(run_dir, result.timeseries_file)
    if series is not None and ss is not None and ss.start_s is not None and ss.duration_s:
        t0, points = series
        a = t0 + int(ss.start_s * 1e9)
        b = a + int(ss.duration_s * 1e9)
        raw = poller.joules_between(a, b)
        row["raw_counter_j"] = raw
        if raw and ss.energy_j is not None:
            row["vs_raw_pct"] = 100 * (ss.energy_j - raw) / raw
        if raw and energy is not None and energy.gpu_j and result.phases:
            # the rule before counter anchoring: the window's energy x the steady span's
            # share of the sampled power, for the record beside the anchored figure
            window_j = energy_j(points, t0, t0 + int(result.phases.window_s * 1e9))
            before = energy.gpu_j * energy_j(points, a, b) / window_j
            row["power_only_vs_raw_pct"] = 100 * (before - raw) / raw
    return row


def fmt(value: Any, spec: str = ".3g") -> str:
    if value is None:
        return "—"
    return format(value, spec) if isinstance(value, (int, float)) else str(value)


def markdown(mode: str, rows: list[dict[str, Any]], study: dict[str, Any]) -> str:
    lines = [
        f"# Serving on the GPU: {mode} ({MODES[mode]['model']}, random weights)",
        "",
        f"Command: `python3 bench/serving_gpu.py {' '.join(sys.argv[1:])}`  ",
        f"GPU: {study['gpu']}; study wall {study['wall_s']:.1f} s; measured windows "
        f"{study['windows_s']:.1f} s; wall / windows = {fmt(study['wall_per_window'])}; "
        f"levels with an engine start (load phase > 1 s): {study['engine_starts']}",
        "",
        f"Energy counter: read every {fmt(study.get('counter_read_ms'))} ms by this script, "
        f"stepped every {fmt(study.get('counter_step_ms'))} ms (medians)",
        "",
        "| level | cycle | J/tok steady | J/tok whole | steady vs raw NVML | power-only vs raw |"
        " goodput req/s | SLO attain. | TTFT p90 s | TPOT p90 s | prefill J | decode J |"
        " achieved req/s | warnings |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"| {r['name']} | {r['cycle']} | failed: {r.get('error')} |" + " |" * 11)
            continue
        lines.append(
            f"| {r['name']} | {r['cycle']} | {fmt(r['steady_j_per_token'])} | "
            f"{fmt(r['whole_j_per_token'])} | {fmt(r.get('vs_raw_pct'), '+.2f')} % | "
            f"{fmt(r.get('power_only_vs_raw_pct'), '+.2f')} % | {fmt(r['goodput_rps'])} | "
            f"{fmt(r['slo_attainment'])} | {fmt(r['ttft_p90_s'])} | {fmt(r['tpot_p90_s'])} | "
            f"{fmt(r['prefill_j'], '.0f')} | {fmt(r['decode_j'], '.0f')} | "
            f"{fmt(r['achieved_rps'])} | {', '.join(r['warnings']) or '—'} |"
        )
    rules = {r.get("split_rule") for r in rows if r.get("split_rule")}
    steady = {r.get("steady_rule") for r in rows if r.get("steady_rule")}
    lines += ["", f"Prefill/decode rule: {'; '.join(map(str, rules)) or '—'}  "]
    lines += [f"Steady-state rule: {'; '.join(map(str, steady)) or '—'}", ""]
    conc = [r for r in rows if r["name"].startswith("concurrency") and r["status"] == "ok"]
    if mode == "vllm" and conc:
        j = conc[0]["steady_j_per_token"]
        lines += [
            f"Concurrency-64 steady state: {fmt(j)} J/token beside ML.ENERGY's "
            f"{MLENERGY_J_PER_TOKEN} J/token (Llama-3.1-8B, H100, vLLM, batch 64). "
            "Differences: this GPU (see above) vs H100; random weights and fixed 256-in/"
            "128-out lengths vs real weights and ShareGPT-like chat lengths; vLLM 0.26 "
            "vs the leaderboard's version; llem's J/token divides the GPU energy "
            "(idle included; the idle-adjusted figure is in the JSON) by output tokens.",
            "",
        ]
    return "\n".join(lines)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mode", choices=sorted(MODES), default="vllm")
    ap.add_argument("--duration-s", type=float, default=40.0, help="each level's sending span")
    ap.add_argument("--rates", default=None, help="Poisson rates, e.g. 1,4,16,64 (mode's default)")
    ap.add_argument("--concurrency", type=int, default=None, help="closed-loop level; 0: none")
    ap.add_argument("--baseline-s", type=float, default=15.0, help="idle baseline window")
    ap.add_argument("--gap-s", type=float, default=5.0, help="pause between levels")
    ap.add_argument("--floor-s", type=float, default=5.0, help="thermal floor after warmup")
    ap.add_argument("--cycles", type=int, default=1, help="cycles of the whole study")
    ap.add_argument("--out-dir", type=Path, default=None)
    ap.add_argument("--print-config", action="store_true", help="write + validate the YAML")
    args = ap.parse_args()
    out = args.out_dir or Path(os.environ.get("OUT") or REPO / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    put_sources_on_path(MODES[args.mode]["plugin"])
    config = out / f"serving_gpu_{args.mode}.yaml"
    config.write_text(study_yaml(args.mode, args))
    from llem.config.loader import load_config
    from llem.run.api import run_study

    study_cfg = load_config(config)  # strict: a wrong key fails here with file:line
    if args.print_config:
        print(config.read_text())
        print(f"{len(study_cfg.experiments)} experiments: OK")
        return 0
    with CounterPoller() as poller:
        t0 = time.perf_counter()
        result = run_study(config, out_dir=out / f"serving_gpu_{args.mode}_run")
        wall = time.perf_counter() - t0
        time.sleep(0.2)  # one more counter read past the last window
    run_dir = Path(result.run_dir)
    rows = [level_row(r, run_dir, poller) for r in result.experiments]
    windows = sum(r.get("window_s") or 0.0 for r in rows)
    # an engine start shows as a load phase of seconds; a reused engine loads in ~0 s
    starts = sum(1 for r in rows if (r.get("load_s") or 0.0) > 1.0)
    study = {
        "gpu": poller.uuid,
        "wall_s": wall,
        "windows_s": windows,
        "wall_per_window": wall / windows if windows else None,
        "engine_starts": starts,
        "counter_read_ms": poller.read_ms(),
        "counter_step_ms": poller.step_ms(),
        "run_dir": str(run_dir),
    }
    (out / f"serving_gpu_{args.mode}.json").write_text(
        json.dumps({"study": study, "levels": rows}, indent=2, default=str)
    )
    text = markdown(args.mode, rows, study)
    (out / f"serving_gpu_{args.mode}.md").write_text(text)
    print(text)
    return 0 if all(r["status"] == "ok" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
