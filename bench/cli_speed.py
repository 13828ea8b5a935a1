"""How fast the ``llem`` command answers, and that its import stays light.

Measures, each in fresh subprocesses (so imports are paid every time, as a user pays them):
1. ``llem --help``: median wall time of RUNS runs (target < 0.5 s on the 2-core CI machine);
2. ``python -c "import llem.cli"`` and ``llem --help`` (which also loads every plugin to list
   its commands): neither may import torch, transformers, vllm, zeus or codecarbon;
3. ``llem run --dry-run`` of a generated 1,200-experiment sweep (target < 5 s).

Prints the numbers and writes bench/results/cli_speed.md with the command, the machine
(``uname -a``, ``nproc``) and the raw timings. Exit status 1 if a target is missed.

    python bench/cli_speed.py [--runs 10]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "transformers", "vllm", "zeus", "codecarbon", "tensorrt_llm")
HELP_TARGET_S = 0.5
DRY_RUN_TARGET_S = 5.0
RESULTS = Path(__file__).resolve().parent / "results" / "cli_speed.md"
# 3 precisions x 5 batch sizes x 8 output lengths x 10 input lengths = 1,200 experiments
SWEEP = """\
name: bench-1200
model: builtin:llama-3.1-8b
backend: {backend}
weights: random
sweep:
  precision: [fp32, fp16, bf16]
  {batch_key}: [1, 2, 4, 8, 16]
  generation.max_new_tokens: [16, 32, 64, 128, 256, 512, 1024, 2048]
  dataset.input_len: [32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384]
"""


def llem_command() -> list[str]:
    script = Path(sys.executable).with_name("llem")
    return [str(script)] if script.exists() else [sys.executable, "-m", "llem.cli"]


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["LLEM_USER_CONFIG"] = ""  # machine-local defaults must not change the figures
    env.pop("LLEM_PLUGINS", None)
    return env


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    return time.perf_counter() - start, proc


def heavy_imports(code: str, env: dict[str, str]) -> list[str]:
    """Heavy modules in sys.modules after running ``code`` in a fresh interpreter."""
    probe = (
        f"{code}\nimport sys\nprint('HEAVY:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    ).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith("HEAVY:"))
    return [m for m in line[len("HEAVY:") :].split(",") if m]


def bench_backend(env: dict[str, str]) -> tuple[str, str]:
    """pytorch (batch key pytorch.batch_size) when installed, else the first backend."""
    code = (
        "from llem.plugins import get_registry; r = get_registry(); "
        "print('pytorch' if 'pytorch' in r.backends else sorted(r.backends)[0])"
    )
    name = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    ).stdout.strip()
    return name, ("pytorch.batch_size" if name == "pytorch" else "dataset.num_prompts")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()
    env, llem = environment(), llem_command()
    load_before = os.getloadavg()

    subprocess.run([*llem, "--help"], capture_output=True, env=env)  # warm the disk cache
    help_times = []
    for _ in range(args.runs):
        t, proc = timed([*llem, "--help"], env)
        if proc.returncode != 0:
            raise SystemExit(f"llem --help failed: {proc.stderr}")
        help_times.append(t)

    import_heavy = heavy_imports("import llem.cli", env)
    help_heavy = heavy_imports(
        "from llem.cli import cli\ntry:\n    cli(['--help'], standalone_mode=False)\n"
        "except SystemExit:\n    pass",
        env,
    )

    backend, batch_key = bench_backend(env)
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(tmp) / "sweep-1200.yaml"
        sweep.write_text(SWEEP.format(backend=backend, batch_key=batch_key))
        dry_times, lines = [], 0
        for _ in range(3):
            t, proc = timed([*llem, "run", str(sweep), "--dry-run"], env)
            if proc.returncode != 0:
                raise SystemExit(f"dry run failed ({proc.returncode}): {proc.stderr[-2000:]}")
            dry_times.append(t)
            lines = proc.stdout.count("\n")
        count_line = next((ln for ln in proc.stdout.splitlines() if "runs, order" in ln), "")

    help_median = statistics.median(help_times)
    dry_median = statistics.median(dry_times)
    ok = (
        help_median < HELP_TARGET_S
        and dry_median < DRY_RUN_TARGET_S
        and not import_heavy
        and not help_heavy
    )
    load = (load_before, os.getloadavg())
    report = render(
        args.runs,
        llem,
        help_times,
        help_median,
        import_heavy,
        help_heavy,
        backend,
        dry_times,
        dry_median,
        count_line,
        lines,
        ok,
        load,
    )
    print(report)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(report)
    print(f"written to {RESULTS}")
    return 0 if ok else 1


def render(
    runs: int,
    llem: list[str],
    help_times: list[float],
    help_median: float,
    import_heavy: list[str],
    help_heavy: list[str],
    backend: str,
    dry_times: list[float],
    dry_median: float,
    count_line: str,
    lines: int,
    ok: bool,
    load: tuple[tuple[float, ...], tuple[float, ...]],
) -> str:
    uname = _output(["uname", "-a"]) or " ".join(platform.uname())
    nproc = _output(["nproc"]) or str(os.cpu_count())

    def verdict(good: bool) -> str:
        return "PASS" if good else "FAIL"

    fmt = ", ".join
    rows = [
        (
            f"`llem --help`, median of {runs}",
            f"{help_median:.3f} s",
            f"< {HELP_TARGET_S} s",
            verdict(help_median < HELP_TARGET_S),
        ),
        (
            "heavy modules after `import llem.cli`",
            fmt(import_heavy) or "none",
            "none",
            verdict(not import_heavy),
        ),
        (
            "heavy modules after `llem --help` (plugins loaded)",
            fmt(help_heavy) or "none",
            "none",
            verdict(not help_heavy),
        ),
        (
            f"`llem run --dry-run`, 1,200-experiment sweep ({backend}), median of 3",
            f"{dry_median:.3f} s",
            f"< {DRY_RUN_TARGET_S} s",
            verdict(dry_median < DRY_RUN_TARGET_S),
        ),
    ]
    table = "\n".join("| " + " | ".join(r) + " |" for r in rows)
    date = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return f"""# llem CLI speed

Command: `python bench/cli_speed.py --runs {runs}` (llem invoked as `{" ".join(llem)}`)
Date (UTC): {date}
Machine: `uname -a`: `{uname}`; `nproc`: {nproc}; Python {platform.python_version()}
Load average (1, 5, 15 min) before: {fmt(f"{x:.2f}" for x in load[0])}; after: \
{fmt(f"{x:.2f}" for x in load[1])} (wall times stretch when other processes share the cores)

| measurement | result | target | verdict |
|---|---|---|---|
{table}

Overall: {verdict(ok)}

Raw `llem --help` wall times (s): {fmt(f"{t:.3f}" for t in help_times)}

Raw dry-run wall times (s): {fmt(f"{t:.3f}" for t in dry_times)}; output {lines} lines;
summary line: `{count_line.strip()}`

Heavy modules checked: {fmt(HEAVY)}. Each timing is a fresh subprocess (imports paid every
time), with `LLEM_USER_CONFIG=` (no user config) and every installed plugin loaded.
"""


def _output(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True).stdout.strip()
    except OSError:
        return ""


if __name__ == "__main__":
    sys.exit(main())
