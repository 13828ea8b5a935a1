"""Studies end to end through the real worker process (the study_fake backend; the
tiny PyTorch model when llem-pytorch is installed)."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import attrs
import pytest
from llem.run.manifest import read_manifest
from llem.run.study import run_study

from tests.core.run.conftest import REPO, gone, quick_study
from tests.fakes.study_backend import StudyFakeConfig

pytestmark = pytest.mark.slow

STUDY_YAML = """\
name: sigint
model: builtin:tiny-llama
backend: {backend}
weights: random
precision: fp32
dataset: {{num_prompts: 2, input_len: 8}}
generation: {{max_new_tokens: 4}}
warmup: {{runs: 0, thermal_floor_s: 0}}
baseline: {{enabled: false}}
{backend}: {{extra: {{sleep_s: {sleep}, count_dir: "{count_dir}", probe_file: "{probe}"}}}}
execution: {{cycles: 1, config_gap_s: 0, cycle_gap_s: 0, reuse_engine: false}}
sweep:
  generation.max_new_tokens: [4, 5, 6, 7]
"""


def _loads(count_dir: Path) -> int:
    return len(list(count_dir.iterdir())) if count_dir.exists() else 0


def test_sigkilled_worker_is_recorded_as_failed_while_the_rest_finish(fake_plugin, tmp_path):
    study = quick_study(3, 1, extras={1: {"crash": "sigkill"}}, reuse_engine=False)
    result = run_study(study, out_dir=tmp_path, progress=False)
    assert result.status == "failed"
    statuses = [r.status for r in result.experiments]
    assert statuses == ["ok", "failed", "ok"]
    failure = result.experiments[1].error
    assert failure is not None and failure.signal == signal.SIGKILL
    manifest = read_manifest(Path(result.run_dir))
    assert [e.status for e in manifest.entries] == ["done", "failed", "done"]
    assert (Path(result.run_dir) / manifest.entries[1].result).exists()


def _llem(args: list[str], env: dict) -> subprocess.Popen:
    """`llem ARGS` in its own process group, like a job started from a shell."""
    # SIGINT back to its default in the child: a pytest started with it ignored (`cmd &`
    # from a script) would pass SIG_IGN on, and the child would never see the Ctrl+C.
    return subprocess.Popen(
        [sys.executable, "-m", "llem.cli", *args],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


# study_fake_preloaded: the workers are forked from a fork server (llem.run.forkserver)
@pytest.mark.parametrize("backend", ["study_fake", "study_fake_preloaded"])
def test_sigint_mid_study_then_resume_runs_only_the_missing_ones(fake_plugin, tmp_path, backend):
    count_dir = tmp_path / "loads"
    probe = tmp_path / "probe.json"
    config = tmp_path / "study.yaml"
    config.write_text(
        STUDY_YAML.format(sleep=1.0, count_dir=count_dir, probe=probe, backend=backend)
    )
    out = tmp_path / "out"
    env = dict(os.environ)

    proc = _llem(["run", str(config), "--out", str(out)], env)
    run_dir = _wait_until_second_experiment_measures(out, count_dir, proc)
    t_sigint = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl+C reaches the whole foreground group
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert time.monotonic() - t_sigint < 5.0, "Ctrl+C must end the study within seconds"
    assert "--resume" in err
    # no orphan: the interrupted worker is killed, and the fork server (its parent when
    # forked) ends with the study
    seen = json.loads(probe.read_text())
    assert (seen["ppid"] != proc.pid) == (backend == "study_fake_preloaded")
    assert gone(seen["pid"], within_s=5.0) and gone(seen["ppid"], within_s=5.0)

    manifest = read_manifest(run_dir)
    counts = manifest.counts()
    done = counts["done"]
    assert counts["interrupted"] == 1 and done >= 1
    assert counts["pending"] == 4 - done - 1
    assert json.loads((run_dir / "study.json").read_text())["status"] == "interrupted"
    loads_before = _loads(count_dir)
    assert loads_before == done + 1  # the finished ones and the interrupted one

    proc = _llem(["run", "--resume", str(run_dir)], env)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert _loads(count_dir) - loads_before == 4 - done  # only the missing ones ran
    manifest = read_manifest(run_dir)
    assert manifest.counts()["done"] == 4 and manifest.status == "complete"
    study = json.loads((run_dir / "study.json").read_text())
    assert study["status"] == "complete" and len(study["experiments"]) == 4

    proc = _llem(["run", "--resume", str(run_dir)], env)
    stdout, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "nothing to resume" in stdout
    assert _loads(count_dir) - loads_before == 4 - done


def _wait_until_second_experiment_measures(
    out: Path, count_dir: Path, proc: subprocess.Popen
) -> Path:
    """Wait until one experiment is done and the next one's model is loaded."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"study ended early: {proc.communicate()}")
        for path in out.glob("*/manifest.json"):
            try:
                counts = read_manifest(path.parent).counts()
            except Exception:
                continue
            if counts["running"] == 1 and _loads(count_dir) == counts["done"] + 1 >= 2:
                return path.parent
        time.sleep(0.05)
    proc.kill()
    pytest.fail("the study never got past its first experiment")


@pytest.mark.skipif(
    importlib.util.find_spec("llem_pytorch") is None, reason="llem-pytorch is not installed"
)
def test_tiny_model_study_end_to_end(tmp_path):
    from llem.config.loader import load_config

    study = load_config(
        REPO / "examples" / "quickstart.yaml",
        profile="quick",
        overrides=("dataset.num_prompts=4", "generation.max_new_tokens=8", "pytorch.batch_size=2"),
    )
    study = attrs.evolve(study, execution=attrs.evolve(study.execution, cycles=3))
    result = run_study(study, out_dir=tmp_path, progress=False)
    assert result.status == "complete", [r.error for r in result.experiments]
    run_dir = Path(result.run_dir)
    assert read_manifest(run_dir).finished
    agg = result.aggregates[0]
    assert agg.cycles_ok == 3
    tps = agg.metrics["tokens_per_second"]
    assert tps.n == 3 and tps.ci_low is not None
    assert tps.min <= tps.ci_low <= tps.ci_high <= tps.max
    import pyarrow.parquet as pq

    assert pq.read_table(run_dir / "results.parquet").num_rows == len(result.experiments)


@pytest.mark.parametrize("reuse", [True, False])
def test_load_levels_of_one_engine_share_one_worker_and_one_load(fake_plugin, tmp_path, reuse):
    """execution.reuse_engine: experiments differing only in dataset/generation run on
    the engine the first loaded (one load, engine_from set); false: a load each."""
    counts = tmp_path / "loads"
    study = quick_study(3, 1, reuse_engine=reuse)
    section = {"study_fake": StudyFakeConfig(extra={"count_dir": str(counts)})}
    study = attrs.evolve(
        study, experiments=tuple(attrs.evolve(e, sections=section) for e in study.experiments)
    )
    result = run_study(study, out_dir=tmp_path / "out", progress=False)
    assert [e.status for e in result.experiments] == ["ok", "ok", "ok"]
    loads = sorted(counts.iterdir())
    first = result.experiments[0]
    if reuse:
        assert len(loads) == 1
        assert first.phases.load_s is not None and first.phases.engine_from is None
        assert all(e.phases.engine_from == first.id for e in result.experiments[1:])
        assert all(e.phases.load_s is None for e in result.experiments[1:])
    else:
        assert len(loads) == 3 and len({p.name.split("-")[0] for p in loads}) == 3
        assert all(e.phases.engine_from is None for e in result.experiments)
