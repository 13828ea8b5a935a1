"""GPU proof for llem-vllm: llem's vLLM backend against a bare ``LLM.generate`` loop.

One vLLM 0.26 engine (random-weight Llama-3.2-1B shape, ``builtin:llama-3.2-1b``,
bf16, max_num_seqs 64, prefix caching off so repeated prompts get no cache hits) serves
both variants, interleaved, on the same prompts (256-token prompts, 128 new tokens,
fixed length):

* ``bare``: ``llm.generate(prompts, sampling_params, use_tqdm=False)`` with prompts and
  one SamplingParams built before the clock starts -- the leanest loop a user writes;
* ``llem``: ``VllmBackend.generate(requests, gen)`` -- llem's per-request SamplingParams,
  clock offsets and RequestRecords included.

Concurrency levels: ``1``, ``8``, ``64`` (back-to-back calls of that many requests until
the window reaches ``--window-s``, default 10 s, so NVML's 100 ms energy counter is
fine), and ``queue`` (all requests of a >= 10 s window in ONE call, concurrency 64: how
llem runs an experiment). Per window: tokens/s, GPU energy from the NVML energy counter
read around every call (J/token, and adjusted by the idle power measured before the
engine starts); for llem windows TTFT/ITL from vLLM's request metrics and the harness's
own time (preparing params + building records vs time inside ``llm.generate``). Also
the engine start time and whether GPU memory returns to its idle level after ``close``.

Pairing: at ``1``/``8``/``64`` both variants run every batch of a window back to back, the
order alternating batch by batch; ``queue`` alternates which variant goes first between
repetitions. Pass: the median over repetitions of llem tok/s / bare tok/s (each
repetition's pair) >= 0.98 at every level; the ratio of the two medians is reported too.

Run from the repository root on the GPU machine (vLLM 0.26 importable; structlog,
attrs, pluggy and nvidia-ml-py needed besides; no install of llem needed)::

    PYTHONPATH=<vllm site dir>:core/src:plugins/llem_vllm/src \\
        python3 bench/vllm_bench.py [--reps 3] [--window-s 10] [--out FILE.md]

Writes ``--out`` (default ``$OUT/vllm_bench.md``, else bench/results/vllm_bench.md) and a
``.json`` beside it. Budget: ~160 s engine start + 4 levels x 2 variants x reps x ~1.3 x window;
``--deadline-s`` (default 500) stops starting new repetitions past it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
for _p in (REPO / "core" / "src", REPO / "plugins" / "llem_vllm" / "src"):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

MODEL = "builtin:llama-3.2-1b"
INPUT_LEN, NEW_TOKENS, MAX_NUM_SEQS = 256, 128, 64
LEVELS = ("1", "8", "64", "queue")
T0 = time.perf_counter()


def say(msg: str) -> None:
    print(f"[{time.perf_counter() - T0:7.1f}s] {msg}", flush=True)


def check_imports() -> None:
    missing = []
    for name in ("attrs", "pluggy", "structlog", "pynvml", "vllm"):
        try:
            __import__(name)
        except ImportError as exc:
            missing.append(f"{name} ({exc})")
    if missing:
        sys.exit(
            "missing: " + ", ".join(missing) + " -- carry their wheels (structlog is a "
            "llem-core dependency; pynvml is nvidia-ml-py)"
        )


# -- NVML ------------------------------------------------------------------------------
class Gpu:
    """The NVML device behind CUDA device 0 (matched by UUID when llem can resolve it)."""

    def __init__(self) -> None:
        import pynvml

        self.nvml = pynvml
        pynvml.nvmlInit()
        index, how = 0, "NVML index 0 (assumed = CUDA 0)"
        try:
            from llem.telemetry.devices import resolve_devices

            device = resolve_devices((0,))[0]
            index, how = device.nvml_index, f"CUDA 0 -> NVML {device.nvml_index} by UUID"
        except Exception as exc:  # the bench still runs; the report says how it matched
            how += f"; llem could not resolve ({type(exc).__name__}: {exc})"
        self.handle = pynvml.nvmlDeviceGetHandleByIndex(index)
        self.matched = how
        self.name = pynvml.nvmlDeviceGetName(self.handle)
        self.driver = pynvml.nvmlSystemGetDriverVersion()

    def energy_j(self) -> float:
        return self.nvml.nvmlDeviceGetTotalEnergyConsumption(self.handle) / 1000.0

    def power_w(self) -> float:
        return self.nvml.nvmlDeviceGetPowerUsage(self.handle) / 1000.0

    def memory_used(self) -> int:
        return int(self.nvml.nvmlDeviceGetMemoryInfo(self.handle).used)

    def idle_power(self, seconds: float) -> float:
        samples, end = [], time.perf_counter() + seconds
        while time.perf_counter() < end:
            samples.append(self.power_w())
            time.sleep(0.1)
        return statistics.fmean(samples)


# -- workloads -------------------------------------------------------------------------
def make_requests(n: int, vocab: int, seed: int) -> list[Any]:
    from llem.interfaces import Request

    rng = random.Random(seed)
    return [
        Request(
            id=i,
            prompt=None,
            max_new_tokens=NEW_TOKENS,
            input_ids=tuple(rng.randrange(vocab) for _ in range(INPUT_LEN)),
        )
        for i in range(n)
    ]


def chunks(requests: list[Any], level: str) -> list[list[Any]]:
    if level == "queue":
        return [requests]
    size = int(level)
    return [requests[i : i + size] for i in range(0, len(requests), size)]


def run_pair(
    level: str, requests: list[Any], backend: Any, gpu: Gpu, gen: Any, llem_first: bool
) -> list[dict[str, Any]]:
    """One window of each variant, interleaved call by call.

    Both variants run every batch of the window, one right after the other, the order
    alternating from batch to batch (ABBA...), so that the machine's drift -- back-to-back
    windows of one variant differed by up to 20 % here -- falls on both alike. ``queue``
    is one call per variant, so its pairs alternate which goes first between repetitions.
    Energy is the NVML counter read around each call, summed per variant."""
    from vllm import SamplingParams

    batches = chunks(requests, level)
    bare_params = SamplingParams(
        max_tokens=NEW_TOKENS,
        min_tokens=NEW_TOKENS,
        ignore_eos=True,
        detokenize=False,
        temperature=0.0,
    )
    acc = {
        v: {
            "tokens": 0,
            "seconds": 0.0,
            "energy_j": 0.0,
            "records": [],
            "harness": 0.0,
            "engine": 0.0,
        }
        for v in ("bare", "llem")
    }
    for i, batch in enumerate(batches):
        first = "llem" if llem_first != (i % 2 == 1) else "bare"
        for variant in (first, "bare" if first == "llem" else "llem"):
            a = acc[variant]
            if variant == "bare":
                prompts = [{"prompt_token_ids": list(r.input_ids)} for r in batch]
                out, seconds, joules = timed(
                    gpu, backend.llm.generate, prompts, bare_params, use_tqdm=False
                )
            else:
                out, seconds, joules = timed(gpu, backend.generate, batch, gen)
            a["seconds"] += seconds
            a["energy_j"] += joules
            if variant == "bare":
                a["tokens"] += sum(len(o.outputs[0].token_ids) for o in out)
                continue
            a["records"] += out
            a["tokens"] += sum(r.output_tokens for r in out)
            lt = backend.last_timing
            a["harness"] += lt["prepare_s"] + lt["records_s"]
            a["engine"] += lt["engine_s"]
    rows = []
    for variant, a in acc.items():
        row = {
            "variant": variant,
            "level": level,
            "calls": len(batches),
            "requests": len(requests),
            "tokens": a["tokens"],
            "seconds": a["seconds"],
            "tok_s": a["tokens"] / a["seconds"],
            "energy_j": a["energy_j"],
            "j_per_token": a["energy_j"] / a["tokens"],
        }
        if variant == "llem":
            row.update(
                latency_stats(a["records"]),
                harness_s=a["harness"],
                engine_s=a["engine"],
                harness_fraction=a["harness"] / (a["harness"] + a["engine"]),
                timing_source=a["records"][0].timing_source,
            )
        rows.append(row)
    return rows


def timed(gpu: Gpu, fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float, float]:
    """fn's result, its seconds and the GPU energy (J) the counter saw meanwhile."""
    e0, t0 = gpu.energy_j(), time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0, gpu.energy_j() - e0


def percentile(values: list[float], q: float) -> float:
    s = sorted(values)
    k = (len(s) - 1) * q
    lo, hi = math.floor(k), math.ceil(k)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def latency_stats(records: list[Any]) -> dict[str, Any]:
    ttft = [
        (r.t_first_token_ns - r.t_submit_ns) / 1e9
        for r in records
        if r.t_first_token_ns is not None
    ]
    itl = [
        (r.t_end_ns - r.t_first_token_ns) / 1e9 / (r.output_tokens - 1)
        for r in records
        if r.t_first_token_ns is not None and r.output_tokens > 1
    ]
    out: dict[str, Any] = {}
    for name, values in (("ttft", ttft), ("itl", itl)):
        if values:
            out[name] = {
                "mean": statistics.fmean(values),
                "p50": percentile(values, 0.5),
                "p90": percentile(values, 0.9),
                "p99": percentile(values, 0.99),
            }
    return out


def calibrate(level: str, backend: Any, vocab: int, gen: Any, window_s: float) -> int:
    """Requests per window so that it lasts >= window_s (one probe call, 30 % margin)."""
    size = MAX_NUM_SEQS if level == "queue" else int(level)
    probe = make_requests(size, vocab, seed=999)
    t = time.perf_counter()
    backend.generate(probe, gen)
    per_call = time.perf_counter() - t
    calls = max(1, math.ceil(1.3 * window_s / per_call))  # runs vary ±15 % here
    return size * calls


# -- report ----------------------------------------------------------------------------
def summarise(rows: list[dict[str, Any]], idle_w: float) -> list[dict[str, Any]]:
    summary = []
    for level in LEVELS:
        by = {
            v: [r for r in rows if r["level"] == level and r["variant"] == v]
            for v in ("bare", "llem")
        }
        if not by["bare"] or not by["llem"]:
            continue
        med = {v: statistics.median(r["tok_s"] for r in by[v]) for v in by}
        bare_by_rep = {r["rep"]: r["tok_s"] for r in by["bare"]}
        paired = [r["tok_s"] / bare_by_rep[r["rep"]] for r in by["llem"] if r["rep"] in bare_by_rep]
        llem_rows = by["llem"]
        jpt = statistics.median(r["j_per_token"] for r in llem_rows)
        adj = statistics.median(
            (r["energy_j"] - idle_w * r["seconds"]) / r["tokens"] for r in llem_rows
        )
        summary.append(
            {
                "level": level,
                "reps": min(len(by["bare"]), len(by["llem"])),
                "bare_tok_s": med["bare"],
                "llem_tok_s": med["llem"],
                "ratio_of_medians": med["llem"] / med["bare"],
                "paired_ratios": paired,
                "ratio": statistics.median(paired),
                "llem_j_per_token": jpt,
                "llem_adjusted_j_per_token": adj,
                "window_s": statistics.median(r["seconds"] for r in llem_rows),
                "ttft_mean_s": statistics.fmean(
                    r["ttft"]["mean"] for r in llem_rows if "ttft" in r
                ),
                "itl_mean_s": statistics.fmean(r["itl"]["mean"] for r in llem_rows if "itl" in r),
                "harness_fraction": statistics.median(r["harness_fraction"] for r in llem_rows),
            }
        )
    return summary


def write_report(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.with_suffix(".json").write_text(json.dumps(data, indent=2, default=str))
    s, env = data["summary"], data["environment"]
    lines = [
        "# llem-vllm GPU bench: llem's vLLM backend vs a bare LLM.generate loop",
        "",
        f"Command: `{data['command']}`",
        "",
        f"GPU: {env.get('gpu')} (driver {env.get('driver')}; {env.get('matched')}); "
        f"vLLM {env.get('vllm')}, torch {env.get('torch')}, Python {env.get('python')}",
        "",
        f"Model: {MODEL}, random weights, bf16; {INPUT_LEN}-token prompts, {NEW_TOKENS} new "
        f"tokens (fixed length); max_num_seqs {MAX_NUM_SEQS}; prefix caching off.",
        "",
        f"Engine: import {data['engine']['import_s']:.1f} s, start (LLM()) "
        f"{data['engine']['engine_start_s']:.1f} s. Idle power before load "
        f"{data['idle_w']:.1f} W.",
        "",
        f"GPU memory used: {data['memory']['before_load'] / 2**20:.0f} MiB before load, "
        f"{data['memory']['loaded'] / 2**20:.0f} MiB loaded, "
        f"{data['memory']['after_close'] / 2**20:.0f} MiB after close "
        f"(returned to baseline: {data['memory']['returned']}).",
        "",
        "## Summary (medians over repetitions)",
        "",
        "| concurrency | reps | bare tok/s | llem tok/s | ratio of medians | median paired "
        "llem/bare | min..max paired | J/token (llem) | adj. J/token | window s | TTFT mean s "
        "| ITL mean s | harness share |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in s:
        lines.append(
            f"| {r['level']} | {r['reps']} | {r['bare_tok_s']:.0f} | {r['llem_tok_s']:.0f} | "
            f"{r['ratio_of_medians']:.4f} | {r['ratio']:.4f} | "
            f"{min(r['paired_ratios']):.3f}..{max(r['paired_ratios']):.3f} | "
            f"{r['llem_j_per_token']:.4f} | "
            f"{r['llem_adjusted_j_per_token']:.4f} | {r['window_s']:.1f} | "
            f"{r['ttft_mean_s']:.4f} | {r['itl_mean_s']:.5f} | {r['harness_fraction']:.2%} |"
        )
    verdict = "PASS" if s and all(r["ratio"] >= 0.98 for r in s) else "FAIL"
    lines += [
        "",
        f"Verdict (median paired llem/bare >= 0.98 at every level): **{verdict}**",
        "",
        "Pairing: at `1`/`8`/`64` both variants run every batch of a window back to "
        "back, the order alternating batch by batch, and a repetition's ratio is "
        "llem tok/s / bare tok/s over those calls; `queue` is one call per variant, the "
        "order alternating between repetitions. Seconds and energy are summed over each "
        "variant's own calls (NVML counter read around every call, so at short calls "
        "J/token carries the counter's ~100 ms update granularity per call).",
        "",
        "`queue`: every request of the window in one call (concurrency capped at "
        "max_num_seqs), as llem runs an experiment; `1`/`8`/`64`: back-to-back calls "
        "of that many requests. Both variants share one engine built with "
        "`disable_log_stats=False` (llem's default, the source of request metrics). "
        "Harness share: llem's own time (SamplingParams, clock offsets, records) / "
        "(that + time inside llm.generate).",
        "",
        f"Timing source: {data.get('timing_source')}",
        "",
        "## Raw windows",
        "",
        "| rep | level | variant | calls | requests | tokens | s | tok/s | J | J/token |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        lines.append(
            f"| {r['rep']} | {r['level']} | {r['variant']} | {r['calls']} | "
            f"{r['requests']} | {r['tokens']} | {r['seconds']:.2f} | "
            f"{r['tok_s']:.0f} | {r['energy_j']:.1f} | {r['j_per_token']:.5f} |"
        )
    if data.get("stopped_early"):
        lines += ["", f"Stopped early: {data['stopped_early']}"]
    path.write_text("\n".join(lines) + "\n")


# -- main ------------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--window-s", type=float, default=10.0)
    ap.add_argument("--deadline-s", type=float, default=500.0)
    ap.add_argument("--idle-s", type=float, default=5.0)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out = args.out or (
        Path(os.environ["OUT"]) / "vllm_bench.md"
        if os.environ.get("OUT")
        else REPO / "bench" / "results" / "vllm_bench.md"
    )
    check_imports()
    from llem.config.schema import ExperimentConfig, GenerationConfig
    from llem_vllm.backend import VllmBackend
    from llem_vllm.config import VllmConfig

    gpu = Gpu()
    say(f"GPU {gpu.name}, {gpu.matched}; idle power for {args.idle_s} s")
    mem_before, idle_w = gpu.memory_used(), gpu.idle_power(args.idle_s)
    section = VllmConfig(max_num_seqs=MAX_NUM_SEQS, enable_prefix_caching=False)
    cfg = ExperimentConfig(
        model=MODEL,
        backend="vllm",
        weights="random",
        precision="bf16",
        sections={"vllm": section},
        generation=GenerationConfig(max_new_tokens=NEW_TOKENS),
    )
    gen = cfg.generation
    backend = VllmBackend(section)
    problems = backend.preflight(cfg)
    if problems:
        sys.exit("preflight: " + "; ".join(p.message for p in problems))
    from llem.interfaces import Device

    device = Device(0, 0, "", "", gpu.name, 0)
    say("starting the engine (import + LLM(); ~160 s)")
    backend.load(cfg, [device])
    say(f"engine up: {backend.load_details['engine_start_s']:.1f} s start")
    mem_loaded = gpu.memory_used()
    vocab = backend.vocab_size
    data: dict[str, Any] = {
        "command": " ".join([sys.executable, *sys.argv]),
        "idle_w": idle_w,
        "engine": backend.load_details,
        "rows": [],
    }
    try:
        warm = make_requests(MAX_NUM_SEQS, vocab, seed=7)
        for _ in range(2):
            backend.generate(warm, gen)
        sizes = {lv: calibrate(lv, backend, vocab, gen, args.window_s) for lv in LEVELS}
        workloads = {lv: make_requests(n, vocab, seed=i) for i, (lv, n) in enumerate(sizes.items())}
        say(f"requests per window: {sizes}")
        rep_time = None
        for rep in range(args.reps):
            elapsed = time.perf_counter() - T0
            if rep_time and elapsed + rep_time > args.deadline_s:
                data["stopped_early"] = (
                    f"after {rep} repetitions at {elapsed:.0f} s (deadline {args.deadline_s:.0f} s)"
                )
                break
            start = time.perf_counter()
            for level in LEVELS:
                llem_first = (rep + LEVELS.index(level)) % 2 == 1
                for row in run_pair(level, workloads[level], backend, gpu, gen, llem_first):
                    row["rep"] = rep
                    variant = row["variant"]
                    data["rows"].append(row)
                    say(
                        f"rep {rep} level {level:>5} {variant:4}: {row['tok_s']:8.0f} tok/s, "
                        f"{row['j_per_token']:.4f} J/token, {row['seconds']:.1f} s"
                    )
                    data["timing_source"] = row.get("timing_source", data.get("timing_source"))
            rep_time = time.perf_counter() - start
    finally:
        backend.close()
        time.sleep(3)
        mem_after = gpu.memory_used()
        data["memory"] = {
            "before_load": mem_before,
            "loaded": mem_loaded,
            "after_close": mem_after,
            "returned": mem_after <= mem_before + 256 * 2**20,
        }
        import vllm

        torch = sys.modules.get("torch")
        data["environment"] = {
            "gpu": gpu.name,
            "driver": gpu.driver,
            "matched": gpu.matched,
            "vllm": getattr(vllm, "__version__", "?"),
            "torch": getattr(torch, "__version__", "?"),
            "python": platform.python_version(),
        }
        data["summary"] = summarise(data["rows"], idle_w)
        write_report(out, data)
        say(f"wrote {out}")
    ok = data["summary"] and all(r["ratio"] >= 0.98 for r in data["summary"])
    return 0 if ok and data["memory"]["returned"] else 1


if __name__ == "__main__":
    sys.exit(main())
