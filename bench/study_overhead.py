"""Benchmark: the study harness's overhead per experiment, with the tiny model on CPU.

Target (issue 4): under 3 s per experiment on the 2-core CPU machine.

Overhead is everything but the model's own work: spawning the worker, its imports,
the environment snapshot, building the workload, tearing the worker down, sending the
result, writing result.json / results.parquet / manifest.json / study.json, the final
aggregation. The model's own work is what the result's phases time: baseline, load,
warmup, thermal floor and the measurement window (all from the worker's clock).

Part 1 runs a real study (examples/quickstart.yaml, ``--profile quick``, N cycles) and
computes ``(study wall time - sum of every experiment's phases) / N``: the overhead as
a user pays it, including the writes and aggregation.

With a backend that preloads modules (``Backend.preload``), the first experiment also
waits for the fork server to start (it imports those modules once per study, see
llem.run.forkserver); part 1 prints the first experiment's worker call apart from the
later ones'. Part 2 runs after part 1 in the same process, so the server is up by then.

Part 2 runs the worker directly with a timestamped event queue to split the per
experiment overhead into: start (spawn + imports + snapshot, up to the first phase
event), inside (between phases: workload building, derivation), end (from the "done"
event to the result in the parent: teardown and transfer).

    /work/venv/bin/python bench/study_overhead.py [--cycles 5] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import multiprocessing
import platform
import queue
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGET_S = 3.0
REPO = Path(__file__).resolve().parents[1]


def model_seconds(result) -> float:  # noqa: ANN001
    p = result.phases
    if p is None:
        return 0.0
    return sum(
        x or 0.0 for x in (p.baseline_s, p.load_s, p.warmup_s, p.thermal_floor_s, p.window_s)
    )


def study_overhead(cycles: int, out: Path, overrides: list[str]) -> dict[str, float]:
    import attrs
    from llem.config.loader import load_config
    from llem.run.manifest import read_manifest
    from llem.run.study import run_study

    study = load_config(REPO / "examples" / "quickstart.yaml", overrides=overrides, profile="quick")
    study = attrs.evolve(
        study, execution=attrs.evolve(study.execution, cycles=cycles, order="sequential")
    )
    t0 = time.perf_counter()
    result = run_study(study, out_dir=out, progress=False)
    wall = time.perf_counter() - t0
    bad = [r.error for r in result.experiments if r.status != "ok"]
    if bad:
        raise SystemExit(f"experiments failed: {bad}")
    n = len(result.experiments)
    model = sum(model_seconds(r) for r in result.experiments)
    entries = read_manifest(Path(result.run_dir)).entries  # in execution order (sequential)
    worker_calls = sum(e.duration_s or 0.0 for e in entries)
    models = {r.id: model_seconds(r) for r in result.experiments}
    calls = [(e.duration_s or 0.0) - models[e.id] for e in entries]
    return {
        "n": n,
        "wall": wall,
        "model": model,
        "per": (wall - model) / n,
        "parent": (wall - worker_calls) / n,
        "in_worker": (worker_calls - model) / n,
        "first_call": calls[0],
        "later_calls": statistics.median(calls[1:] or [0.0]),
    }


def worker_breakdown(runs: int, out: Path, overrides: list[str]) -> list[dict[str, float]]:
    from llem.config.loader import load_config
    from llem.run.worker import run_in_worker

    cfg = load_config(
        REPO / "examples" / "quickstart.yaml", overrides=overrides, profile="quick"
    ).experiments[0]
    events = multiprocessing.get_context("spawn").Queue()
    stamps: list[tuple[float, str, object]] = []
    stop = threading.Event()

    def drain() -> None:  # stamp each event as it arrives in the parent
        while not stop.is_set():
            try:
                kind, _id, payload = events.get(timeout=0.05)
            except queue.Empty:
                continue
            stamps.append((time.perf_counter(), kind, payload))

    thread = threading.Thread(target=drain, daemon=True)
    thread.start()
    rows = []
    for i in range(runs):
        stamps.clear()
        t0 = time.perf_counter()
        result = run_in_worker(
            cfg,
            experiment_id=f"bench-c{i + 1}",
            cycle=i + 1,
            run_dir=out,
            timeout_s=600,
            events=events,
        )
        t_end = time.perf_counter()
        time.sleep(0.2)  # let late events land before the next run clears them
        phases = [(t, p) for t, kind, p in stamps if kind == "phase"]
        first = phases[0][0] if phases else t_end
        done = next((t for t, p in phases if p == "done"), t_end)
        model = model_seconds(result)
        rows.append(
            {
                "total": t_end - t0,
                "model": model,
                "start": first - t0,
                "end": t_end - done,
                "overhead": t_end - t0 - model,
            }
        )
    stop.set()
    thread.join()
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cycles", type=int, default=5)
    ap.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override, as llem run --set",
    )
    args = ap.parse_args()
    print(
        f"machine: {' '.join(platform.uname())}; cpus: {_nproc()}; python {sys.version.split()[0]}"
    )
    print(f"load average before: {_loadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        r = study_overhead(args.cycles, Path(tmp), args.overrides)
        verdict = "PASS" if r["per"] < TARGET_S else "FAIL"
        given = " ".join(f"--set {o}" for o in args.overrides)
        print(
            f"study of {r['n']} experiments (quickstart, --profile quick {given}): wall "
            f"{r['wall']:.2f} s, model phases {r['model']:.2f} s -> harness overhead "
            f"{r['per']:.2f} s per experiment; target < {TARGET_S} s: {verdict}"
        )
        print(
            f"  of which in the worker call (spawn, imports, snapshot, preflight, meter "
            f"set-up, derivation, teardown): {r['in_worker']:.2f} s; in the parent "
            f"(manifest, sinks, aggregation, study.json): {r['parent']:.2f} s"
        )
        print(
            f"  worker call minus model phases: first experiment {r['first_call']:.2f} s "
            f"(it includes starting the fork server, once per study, when the backend "
            f"preloads modules), later ones median {r['later_calls']:.2f} s"
        )
    with tempfile.TemporaryDirectory() as tmp:
        rows = worker_breakdown(args.cycles, Path(tmp), args.overrides)
        for key, what in (
            ("overhead", "worker call minus its model phases"),
            (
                "start",
                "worker start to first phase event (spawn, imports, "
                "snapshot, preflight, meter set-up)",
            ),
            (
                "end",
                "'done' event to result in the parent (derivation, CO2, close, pickling, exit)",
            ),
            ("model", "model phases (load, warmup, window)"),
        ):
            values = [r[key] for r in rows]
            print(
                f"  {what}: median {statistics.median(values):.2f} s "
                f"(min {min(values):.2f}, max {max(values):.2f}, n={len(values)})"
            )
    print(f"load average after: {_loadavg()}")


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "unknown"


def _nproc() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


if __name__ == "__main__":
    main()
