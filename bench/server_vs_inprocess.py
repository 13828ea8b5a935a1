"""GPU bench: what the HTTP stack costs -- ``vllm serve`` (llem-server) vs vLLM in process
(llem-vllm) at the same Poisson rates, in J/token and TTFT.

Two studies, the same engine settings and the same seeded workload, run one after the
other by ``llem run`` (each its own worker, engine start and idle baseline):

* ``inprocess``: ``backend: vllm`` -- vLLM's AsyncLLM in the worker, no HTTP;
* ``server``: ``backend: server``, ``launch: vllm`` -- ``vllm serve`` with
  ``--load-format dummy`` on 127.0.0.1, requests streamed over HTTP by llem's aiohttp
  client (completions API, token-id prompts, usage on every chunk).

Model ``builtin:llama-3.1-8b`` with random weights, bf16, 256-token prompts, 128 new
tokens (fixed length), max_num_seqs 64, max_num_batched_tokens 8192, prefix caching
off (the same for both: vLLM's defaults differ between ``LLM`` and ``vllm serve``).
Load: Poisson at each ``--rates`` value (default 4 and 16 req/s) for ``--duration-s``
(default 45 s) each. Per rate and variant: J/output token (whole window and steady state
where the result has one), TTFT p50/p90, ITL mean, tokens/s; for the server, the
client's CPU time per token (``backend_details``). Then the difference server minus
in-process: the HTTP stack's cost (API server process, tokenizer-free request path,
SSE encoding, the client).

Run from the repository root on the GPU machine, with vLLM 0.26 and aiohttp importable
(llem itself runs from core/src and plugins/*/src, as in serving_gpu.py)::

    python3 bench/server_vs_inprocess.py [--rates 4 16] [--duration-s 45] [--gpu 0]
        [--out bench/results/server_vs_inprocess.md]

Writes the markdown (and a .json of the raw rows beside it) and prints it. Budget per
variant: engine start (~80-225 s) + baseline 30 s + per rate (warmup + duration + gap).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
ENGINE = {"max_num_seqs": 64, "max_num_batched_tokens": 8192, "enable_prefix_caching": False}


def study(variant: str, rates: list[float], duration_s: float, gpu: int) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": f"server-vs-inprocess-{variant}",
        "model": "builtin:llama-3.1-8b",
        "weights": "random",
        "precision": "bf16",
        "devices": [gpu],
        "dataset": {
            "source": "synthetic",
            "num_prompts": int(max(rates) * duration_s * 1.5),
            "input_len": 256,
            "seed": 0,
        },
        "generation": {"max_new_tokens": 128},
        "load": {
            "mode": "serving",
            "arrival": "poisson",
            "rate": rates[0],
            "duration_s": duration_s,
            "seed": 0,
        },
        "sweep": {"load.rate": rates},
        "warmup": {"thermal_floor_s": 10},
        "baseline": {"enabled": True},
        "execution": {"cycles": 1, "config_gap_s": 10, "timeout_s": 3600},
    }
    if variant == "inprocess":
        body["backend"] = "vllm"
        body["vllm"] = dict(ENGINE)
    else:
        body["backend"] = "server"
        body["server"] = {
            "launch": "vllm",
            "ready_timeout_s": 900,
            "args": {
                "max-num-seqs": ENGINE["max_num_seqs"],
                "max-num-batched-tokens": ENGINE["max_num_batched_tokens"],
                "no-enable-prefix-caching": True,
            },
        }
    return body


def run_study(body: dict[str, Any], out_dir: Path) -> tuple[Path, float, str]:
    import yaml

    config = out_dir / f"{body['name']}.yaml"
    config.write_text(yaml.safe_dump(body, sort_keys=False))
    cmd = [
        sys.executable,
        "-c",
        "from llem.cli import cli; cli()",
        "run",
        str(config),
        "--out",
        str(out_dir),
    ]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    runs = sorted(out_dir.glob(f"{body['name']}_*"))
    if not runs:
        raise SystemExit(f"{' '.join(cmd)} made no run directory:\n{proc.stdout}\n{proc.stderr}")
    return runs[-1], wall, proc.stdout[-3000:]


def pick(data: Any, *paths: str) -> Any:
    """The first of the dotted ``paths`` present in ``data`` (result layouts differ as
    the serving schema grows: steady-state figures where there are some)."""
    for path in paths:
        node = data
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if node is not None:
            return node
    return None


def rows(run_dir: Path, variant: str) -> list[dict[str, Any]]:
    study_json = json.loads((run_dir / "study.json").read_text())
    out = []
    for r in study_json["experiments"]:
        rate = pick(r, "config.load.rate")
        row = {"variant": variant, "rate": rate, "status": r["status"]}
        if r["status"] != "ok":
            row["error"] = (r.get("error") or {}).get("message", "")[:300]
            out.append(row)
            continue
        row.update(
            j_per_token=pick(r, "energy.energy_per_output_token_j"),
            steady_j_per_token=pick(
                r,
                "steady_state.energy_per_output_token_j",
                "serving.steady_state.energy_per_output_token_j",
                "windows.steady.energy_per_output_token_j",
            ),
            gpu_j=pick(r, "energy.gpu_j"),
            ttft_p50=pick(r, "performance.ttft_s.p50"),
            ttft_p90=pick(r, "performance.ttft_s.p90"),
            itl_mean=pick(r, "performance.itl_s.mean"),
            tokens_per_s=pick(r, "performance.tokens_per_second"),
            achieved_rate=pick(
                r, "load.achieved_rate", "serving.achieved_rate", "performance.requests_per_second"
            ),
            client_cpu_us_per_token=pick(r, "backend_details.client_cpu_us_per_token"),
            client_cpu_s=pick(r, "backend_details.client_cpu_s"),
            warnings=[w["code"] for w in r.get("warnings", [])],
        )
        out.append(row)
    return out


def fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "–"
    return f"{v:.{digits}g}" if isinstance(v, float) else str(v)


def markdown(all_rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# vllm serve (llem-server) vs vLLM in process (llem-vllm)",
        "",
        f"Command: `{meta['command']}`  ",
        f"Host: {meta['host']}; wall time: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in meta["wall_s"].items()),
        "",
        "| rate req/s | variant | J/token | steady J/token | TTFT p50 s | TTFT p90 s | ITL mean s"
        " | tok/s | achieved req/s | client CPU µs/token | warnings |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in sorted(all_rows, key=lambda r: (r["rate"] or 0, r["variant"])):
        if r["status"] != "ok":
            lines.append(f"| {r['rate']} | {r['variant']} | failed: {r.get('error')} |||||||||")
            continue
        lines.append(
            f"| {r['rate']} | {r['variant']} | {fmt(r['j_per_token'])} | "
            f"{fmt(r['steady_j_per_token'])} | {fmt(r['ttft_p50'])} | {fmt(r['ttft_p90'])} | "
            f"{fmt(r['itl_mean'])} | {fmt(r['tokens_per_s'])} | {fmt(r['achieved_rate'])} | "
            f"{fmt(r['client_cpu_us_per_token'])} | {', '.join(r['warnings'])} |"
        )
    lines += [
        "",
        "## The HTTP stack's cost (server minus in-process)",
        "",
        "| rate req/s | Δ J/token | Δ J/token % | Δ TTFT p50 ms | Δ TTFT p90 ms |",
        "|---|---|---|---|---|",
    ]
    by = {(r["variant"], r["rate"]): r for r in all_rows if r["status"] == "ok"}
    for rate in sorted({r["rate"] for r in all_rows}):
        s, i = by.get(("server", rate)), by.get(("inprocess", rate))
        if not s or not i:
            lines.append(f"| {rate} | – | – | – | – |")
            continue
        key = (
            "steady_j_per_token"
            if s["steady_j_per_token"] and i["steady_j_per_token"]
            else "j_per_token"
        )
        dj = _diff(s[key], i[key])
        pct = None if dj is None or not i[key] else 100 * dj / i[key]
        lines.append(
            f"| {rate} | {fmt(dj)} ({key}) | {fmt(pct, 3)} | "
            f"{fmt(_ms(_diff(s['ttft_p50'], i['ttft_p50'])))} | "
            f"{fmt(_ms(_diff(s['ttft_p90'], i['ttft_p90'])))} |"
        )
    return "\n".join(lines) + "\n"


def _diff(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def _ms(v: float | None) -> float | None:
    return None if v is None else v * 1000


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rates", type=float, nargs="+", default=[4.0, 16.0])
    ap.add_argument("--duration-s", type=float, default=45.0)
    ap.add_argument("--gpu", type=int, default=0)
    ap.add_argument("--variants", nargs="+", default=["inprocess", "server"])
    default_out = Path(os.environ.get("OUT", REPO / "bench" / "results"))
    ap.add_argument("--out", type=Path, default=default_out / "server_vs_inprocess.md")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "bench"))
    from serving_gpu import put_sources_on_path  # llem from source, no install needed

    put_sources_on_path(
        ("llem-vllm", "vllm", "llem_vllm"), ("llem-server", "server", "llem_server")
    )
    work = args.out.parent / "server_vs_inprocess_runs"
    work.mkdir(parents=True, exist_ok=True)
    all_rows, wall, tails = [], {}, {}
    for variant in args.variants:
        run_dir, wall[variant], tails[variant] = run_study(
            study(variant, args.rates, args.duration_s, args.gpu), work
        )
        all_rows += rows(run_dir, variant)
    meta = {"command": " ".join(sys.argv), "host": os.uname().nodename, "wall_s": wall}
    text = markdown(all_rows, meta)
    args.out.write_text(text)
    args.out.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "rows": all_rows, "llem_output_tail": tails}, indent=2)
    )
    print(text)


if __name__ == "__main__":
    main()
