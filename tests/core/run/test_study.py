"""The study runner's own logic, with an in-process stand-in for the worker."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import attrs
import pytest
from llem.errors import Interrupted
from llem.run import api
from llem.run.manifest import Fingerprint, read_manifest
from llem.run.study import resume_study, run_study

from tests.core.run.conftest import quick_study


def _statuses(run_dir: Path) -> dict[str, int]:
    return read_manifest(run_dir).counts()


def test_study_runs_every_config_and_cycle_and_fills_the_run_dir(fake_worker, tmp_path):
    study = quick_study(2, 3, timeout_s=42.0)
    result = run_study(study, out_dir=tmp_path, progress=False)

    run_dir = Path(result.run_dir)
    assert run_dir.parent == tmp_path and run_dir.name.startswith("t_")
    assert result.status == "complete" and len(result.experiments) == 6
    ids = [c[0] for c in fake_worker.calls]
    hashes = [i.rsplit("-c", 1)[0] for i in ids]
    assert [i.rsplit("-c", 1)[1] for i in ids] == ["1", "1", "2", "2", "3", "3"]
    assert hashes[0] != hashes[1] and hashes[:2] == hashes[2:4] == hashes[4:]
    assert {c[1] for c in fake_worker.calls} == {42.0}  # execution.timeout_s reaches it
    assert _statuses(run_dir)["done"] == 6
    for name in ("manifest.json", "study.json", "config.yaml", "llem.log", "results.parquet"):
        assert (run_dir / name).exists(), name
    for i in ids:
        assert (run_dir / "experiments" / i / "result.json").exists()
    stored = json.loads((run_dir / "study.json").read_text())
    assert stored["status"] == "complete"
    assert stored["pareto_front"] == list(result.pareto_front)
    assert [a.config_hash for a in result.aggregates] == hashes[:2]
    energy = result.aggregates[0].metrics["energy_per_output_token_j"]
    assert energy.n == 3 and energy.mean == pytest.approx(0.52)
    assert energy.ci_low is not None


def test_failed_experiment_is_recorded_and_the_rest_finish(fake_worker, tmp_path):
    study = quick_study(3, 1, extras={1: {"fail": True}})
    result = run_study(study, out_dir=tmp_path, progress=False)
    assert result.status == "failed"
    assert len(result.experiments) == 3 and len(result.failures) == 1
    manifest = read_manifest(Path(result.run_dir))
    assert manifest.counts()["done"] == 2 and manifest.counts()["failed"] == 1
    failed = next(e for e in manifest.entries if e.status == "failed")
    assert "told to fail" in failed.error and failed.result is not None
    assert manifest.status == "failed"


def test_retries_rerun_a_failed_experiment(fake_worker, tmp_path):
    study = quick_study(1, 1, extras={0: {"fail_first": True}}, retries=2)
    result = run_study(study, out_dir=tmp_path, progress=False)
    assert result.status == "complete"
    (entry,) = read_manifest(Path(result.run_dir)).entries
    assert entry.status == "done" and entry.attempts == 2 and entry.error is None
    assert len(fake_worker.calls) == 2


def test_gaps_are_waited_between_experiments(fake_worker, tmp_path):
    study = quick_study(2, 2)
    study = attrs.evolve(
        study, execution=attrs.evolve(study.execution, config_gap_s=0.3, cycle_gap_s=0.6)
    )
    t0 = time.monotonic()
    run_study(study, out_dir=tmp_path, progress=False)
    assert time.monotonic() - t0 >= 0.3 + 0.6 + 0.3


def test_ctrl_c_marks_the_running_entry_and_keeps_what_finished(fake_worker, tmp_path):
    fake_worker.interrupt_at_call = 3
    with pytest.raises(Interrupted) as info:
        run_study(quick_study(2, 2), out_dir=tmp_path, progress=False)
    assert info.value.exit_code == 130
    (run_dir,) = tmp_path.iterdir()
    assert "--resume" in str(info.value) and str(run_dir) in str(info.value)
    manifest = read_manifest(run_dir)
    assert [e.status for e in manifest.entries] == ["done", "done", "interrupted", "pending"]
    assert manifest.status == "interrupted"
    stored = json.loads((run_dir / "study.json").read_text())
    assert stored["status"] == "interrupted" and len(stored["experiments"]) == 2


def test_resume_runs_only_what_is_not_done(fake_worker, tmp_path):
    fake_worker.interrupt_at_call = 3
    with pytest.raises(Interrupted):
        run_study(quick_study(2, 2), out_dir=tmp_path, progress=False)
    (run_dir,) = tmp_path.iterdir()
    first_ids = [c[0] for c in fake_worker.calls]
    fake_worker.calls.clear()
    fake_worker.interrupt_at_call = None

    result = resume_study(run_dir, progress=False)
    assert [c[0] for c in fake_worker.calls] == first_ids[2:] + [
        e.id for e in read_manifest(run_dir).entries
    ][3:]
    assert result.status == "complete" and len(result.experiments) == 4
    manifest = read_manifest(run_dir)
    assert manifest.counts()["done"] == 4 and len(manifest.resumptions) == 1
    assert manifest.entries[2].attempts == 2  # the interrupted attempt, then the resume


def test_resuming_a_finished_study_runs_nothing(fake_worker, tmp_path, capsys):
    result = run_study(quick_study(1, 2), out_dir=tmp_path, progress=False)
    fake_worker.calls.clear()
    again = resume_study(Path(result.run_dir), progress=True)
    assert fake_worker.calls == []
    assert "nothing to resume" in capsys.readouterr().out
    assert again.status == "complete" and len(again.experiments) == 2


def test_resume_in_another_environment_warns_and_records(
    fake_worker, tmp_path, monkeypatch, capsys
):
    fake_worker.interrupt_at_call = 1
    with pytest.raises(Interrupted):
        run_study(quick_study(1, 1), out_dir=tmp_path, progress=False)
    (run_dir,) = tmp_path.iterdir()
    fake_worker.interrupt_at_call = None
    import llem.run.fingerprint

    monkeypatch.setattr(
        llem.run.fingerprint,
        "current_fingerprint",
        lambda: Fingerprint("9.9.9", ("NVIDIA H100 80GB HBM3",), "999.1"),
    )
    resume_study(run_dir, progress=True)
    out = capsys.readouterr().out
    assert "environment differs" in out and "llem_version" in out
    (resumed,) = read_manifest(run_dir).resumptions
    assert any(d.startswith("gpu_models") for d in resumed.differences)


def test_manifest_is_valid_json_whenever_it_is_read(fake_worker, tmp_path):
    stop = threading.Event()
    bad: list[str] = []
    reads = [0]

    def reader() -> None:
        while not stop.is_set():
            for path in tmp_path.glob("*/manifest.json"):
                try:
                    json.loads(path.read_text())
                    reads[0] += 1
                except ValueError as exc:
                    bad.append(str(exc))

    t = threading.Thread(target=reader)
    t.start()
    try:
        run_study(quick_study(3, 3, extras={1: {"fail": True}}), out_dir=tmp_path, progress=False)
    finally:
        stop.set()
        t.join()
    assert bad == [] and reads[0] > 0
    # the entry being run is marked running in the manifest the worker starts with
    for seen, (experiment_id, _) in zip(fake_worker.seen_manifests, fake_worker.calls, strict=True):
        (entry,) = [e for e in seen["entries"] if e["id"] == experiment_id]
        assert entry["status"] == "running"


def test_run_experiment_runs_one_cycle_and_returns_its_result(fake_worker, tmp_path):
    study = quick_study(1, 3)
    result = api.run_experiment(study.experiments[0], out_dir=tmp_path, progress=False)
    assert result.status == "ok" and result.cycle == 1
    assert len(fake_worker.calls) == 1


def test_library_run_study_accepts_a_study_config(fake_worker, tmp_path):
    result = api.run_study(quick_study(2, 1), out_dir=tmp_path, progress=False)
    assert len(result.experiments) == 2


def test_plain_progress_when_not_a_terminal(fake_worker, tmp_path, capsys):
    run_study(quick_study(2, 1, extras={1: {"fail": True}}), out_dir=tmp_path)
    out = capsys.readouterr().out
    assert "[1/2]" in out and "[2/2]" in out and "failed" in out
    assert "configuration" in out  # the summary table's header
    assert "\x1b[" not in out


def test_a_failing_sink_is_reported_and_the_study_carries_on(fake_worker, tmp_path, capsys):
    study = quick_study(2, 1)
    study = attrs.evolve(
        study, output=attrs.evolve(study.output, sinks=("json", "study_broken", "parquet"))
    )
    result = run_study(study, out_dir=tmp_path)
    assert result.status == "complete" and len(result.experiments) == 2
    run_dir = Path(result.run_dir)
    assert (run_dir / "study.json").exists() and (run_dir / "results.parquet").exists()
    assert read_manifest(run_dir).counts()["done"] == 2
    assert "sink 'study_broken' failed: OSError: disk full" in capsys.readouterr().out


def test_an_unknown_sink_fails_before_any_run_directory_exists(fake_worker, tmp_path):
    from llem.errors import PluginError

    study = quick_study(1, 1)
    study = attrs.evolve(study, output=attrs.evolve(study.output, sinks=("jsn",)))
    with pytest.raises(PluginError, match="did you mean 'json'"):
        run_study(study, out_dir=tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_library_run_study_loads_a_yaml_path(fake_worker, tmp_path):
    import llem

    config = tmp_path / "sweep.yaml"
    config.write_text(
        "name: lib\nmodel: builtin:tiny-llama\nbackend: study_fake\nweights: random\n"
        "execution: {cycles: 2, config_gap_s: 0, cycle_gap_s: 0}\n"
        "sweep:\n  generation.max_new_tokens: [4, 8]\n"
    )
    result = llem.run_study(config, out_dir=tmp_path / "out", progress=False)
    assert result.name == "lib" and len(result.experiments) == 4
    assert [a.params for a in result.aggregates] == [
        {"generation.max_new_tokens": 4},
        {"generation.max_new_tokens": 8},
    ]
    stored = (Path(result.run_dir) / "config.yaml").read_text()
    assert stored.startswith(config.read_text())  # the source text, verbatim


def test_the_study_description_says_how_long_the_gaps_will_wait():
    from llem.run.manifest import ManifestEntry
    from llem.run.order import plan_runs
    from llem.run.session import _describe

    study = quick_study(2, 2)
    ex = attrs.evolve(study.execution, config_gap_s=60.0, cycle_gap_s=120.0)
    study = attrs.evolve(study, execution=ex)
    entries = [
        ManifestEntry(f"h{i}-c{p.cycle}", f"h{i}", p.config_index, p.cycle, p.gap_before)
        for i, p in enumerate(plan_runs(2, 2, ex.order))
    ]
    text = _describe(study, entries)
    assert "4 to run; waits 4.0 min in gaps" in text and "--profile quick" in text
    quick = attrs.evolve(study, execution=attrs.evolve(ex, config_gap_s=0.0, cycle_gap_s=0.0))
    assert "waits" not in _describe(quick, entries)
