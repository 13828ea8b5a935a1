"""Local vs Docker runner on one configuration, interleaved: what the container costs.

Runs the template's echo backend (64 prompts x 256 tokens, 2 ms per step) through
`llem run`, alternately with execution.runner local and docker, and prints per run the
wall time of the whole `llem run`, the measured window, tokens/s and the container's
start. On the CPU machine no energy is measured (J/token is null there); on a GPU machine
with Docker, point --config at a GPU config to get J/token both ways.

    python bench/docker_overhead.py [--reps 3] [--image llem-test-echo:run]

Needs a dockerd and the test image (tests/core/containers builds it; or .ci/setup-docker.sh
and that fixture's commands).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.dist_info import announce  # noqa: E402

CONFIG = """\
name: overhead-{runner}
model: builtin:tiny-llama
weights: random
backend: echo
devices: []
echo: {{token_delay_ms: 2.0}}
dataset: {{num_prompts: 64, input_len: 32}}
generation: {{max_new_tokens: 256}}
warmup: {{runs: 1, thermal_floor_s: 0}}
baseline: {{enabled: false}}
energy: {{meter: null, min_window_s: 0}}
execution: {{cycles: 1, runner: {{echo: {runner}}}, images: {{echo: {image}}}}}
output: {{dir: {out}}}
"""


def run_once(runner: str, image: str, work: Path, env: dict[str, str]) -> dict:
    out = work / f"{runner}-{time.monotonic_ns()}"
    cfg = out.with_suffix(".yaml")
    cfg.write_text(CONFIG.format(runner=runner, image=image, out=out))
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "llem.cli", "run", str(cfg)],
        env=env,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - t
    [result] = [json.loads(p.read_text()) for p in out.glob("*/experiments/*/result.json")]
    return {
        "runner": runner,
        "wall_s": wall,
        "window_s": result["performance"]["duration_s"],
        "tokens_per_s": result["performance"]["tokens_per_second"],
        "container_start_s": result["environment"].get("runner", {}).get("start_s"),
        "status": result["status"],
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--image", default="llem-test-echo:run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llem-docker-overhead-"))
    site = announce(work / "site", "llem-echo", "0.1.0", "echo", "llem_echo")
    template = ROOT / "examples" / "plugin-template" / "src"
    env = {
        **os.environ,
        "LLEM_USER_CONFIG": "",
        "PYTHONPATH": os.pathsep.join([str(site), str(template), str(ROOT)]),
    }
    rows = []
    for rep in range(args.reps):
        order = ("local", "docker") if rep % 2 == 0 else ("docker", "local")
        rows += [run_once(runner, args.image, work, env) for runner in order]
    print(f"load average at the end: {os.getloadavg()}")
    print("| runner | wall s | window s | tokens/s | container start s | status |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['runner']} | {r['wall_s']:.2f} | {r['window_s']:.3f} | "
            f"{r['tokens_per_s']:.0f} | {r['container_start_s']} | {r['status']} |"
        )
    for runner in ("local", "docker"):
        mine = [r for r in rows if r["runner"] == runner]
        print(
            f"{runner}: median wall {statistics.median(r['wall_s'] for r in mine):.2f} s, "
            f"median tokens/s {statistics.median(r['tokens_per_s'] for r in mine):.0f}"
        )


if __name__ == "__main__":
    main()
