"""The study runner: every experiment x cycle in its own worker, checkpointed, resumable.

A study runs for hours and must never lose a finished measurement:
- each experiment x cycle runs in a fresh worker process (``run_in_worker``); a failure,
  crash or timeout becomes a failed result and the study goes on (with
  ``execution.retries`` more attempts);
- manifest.json is rewritten atomically on every status change, and sinks receive each
  result as soon as it exists, so a crash or Ctrl+C keeps everything finished;
- Ctrl+C: the worker kills its child and re-raises KeyboardInterrupt; the running entry
  becomes ``interrupted``, study.json gets what finished, and ``Interrupted`` (exit 130)
  says how to resume (the loop itself: llem.run.session);
- ``resume_study`` rebuilds the study from the run directory's config.yaml and runs only
  what is not done.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import attrs
import structlog

from llem.config.schema import StudyConfig
from llem.errors import ConfigError
from llem.results.io import write_retrying
from llem.results.schema import ExperimentResult, StudyResult
from llem.run.lock import run_dir_lock
from llem.run.manifest import (
    MANIFEST_NAME,
    Invocation,
    Manifest,
    ManifestEntry,
    Resumption,
    read_manifest,
    write_manifest,
)
from llem.run.order import engine_groups, plan_runs
from llem.run.pins import check_pins, pin_study, with_pins
from llem.run.progress import make_reporter
from llem.run.rundir import CONFIG_NAME, create_run_dir, write_config
from llem.run.session import StudySession, hashes_of, study_result
from llem.timestamps import utc_now

log = structlog.get_logger()


def run_study(
    study: StudyConfig, *, out_dir: Path | None = None, progress: bool = True
) -> StudyResult:
    """Run every experiment of ``study`` x ``execution.cycles`` in a new run directory
    under ``out_dir`` (default ``study.output.dir``).

    Returns the StudyResult (status "failed" if any experiment failed); raises
    ``Interrupted`` on Ctrl+C after saving what finished.
    """
    study, pins = pin_study(study)  # inputs absolute before hashing: see llem.run.pins
    study = _without_duplicates(study)
    hashes = hashes_of(study)
    _check_sinks(study)  # an unknown sink name fails before a run directory exists
    run_dir = create_run_dir(Path(out_dir if out_dir is not None else study.output.dir), study.name)
    with run_dir_lock(run_dir):
        write_config(run_dir, study)
        ex = study.execution
        plan = plan_runs(
            len(study.experiments), ex.first_cycles, ex.order, ex.seed, engine_groups(study)
        )
        now = utc_now()
        from llem.run.fingerprint import current_fingerprint

        manifest = Manifest(
            study=study.name,
            created_at=now,
            updated_at=now,
            status="running",
            order=ex.order,
            seed=ex.seed,
            cycles=ex.first_cycles,
            invocation=Invocation(
                study.source_path, tuple(study.overrides), study.profile, os.getcwd()
            ),
            environment=current_fingerprint(),
            pins=pins,
            entries=tuple(
                ManifestEntry(
                    id=f"{hashes[p.config_index]}-c{p.cycle}",
                    config_hash=hashes[p.config_index],
                    config_index=p.config_index,
                    cycle=p.cycle,
                    gap_before=p.gap_before,
                    name=study.experiments[p.config_index].name,
                )
                for p in plan
            ),
        )
        write_retrying(
            lambda: write_manifest(run_dir, manifest), "the manifest", run_dir / MANIFEST_NAME
        )
        return StudySession(study, run_dir, manifest, {}, make_reporter(progress)).run()


def resume_study(run_dir: Path, progress: bool = True) -> StudyResult:
    """Carry on the study in ``run_dir``: run only the entries that are not done.

    Earlier results are kept (loaded from their result.json). A finished study is not
    run again ("nothing to resume"). A different environment (GPU models, driver, llem
    version) is warned about and recorded in the manifest.
    """
    run_dir = Path(run_dir).absolute()
    if not (run_dir / MANIFEST_NAME).is_file():
        read_manifest(run_dir)  # the ConfigError saying why this is no run directory
    with run_dir_lock(run_dir):
        return _resume_locked(run_dir, progress)


def _resume_locked(run_dir: Path, progress: bool) -> StudyResult:
    manifest = read_manifest(run_dir)
    study = with_pins(_load_stored_config(run_dir, manifest), manifest.pins)
    _check_plan(run_dir, manifest, hashes_of(study))
    check_pins(manifest.pins, run_dir)
    reporter = make_reporter(progress)
    previous, missing = _load_previous(run_dir, manifest)
    if manifest.finished and manifest.status in ("complete", "failed") and not missing:
        reporter.note(
            f"nothing to resume: all {len(manifest.entries)} experiments of {run_dir} are done"
        )
        log.info("study.resume.nothing_to_do", run_dir=str(run_dir))
        reporter.close()
        return study_result(study, run_dir, manifest, previous, manifest.status)
    if missing:
        reporter.note(
            f"{len(missing)} result file(s) listed as done are missing or unreadable; "
            f"running those experiments again"
        )

    from llem.run.fingerprint import current_fingerprint

    now_env = current_fingerprint()
    differences = manifest.environment.differences(now_env)
    if differences:
        log.warning(
            "study.resume.environment_changed", run_dir=str(run_dir), differences=list(differences)
        )
        reporter.note(
            "warning: the environment differs from the one this study started "
            "in, so new cycles may not compare with earlier ones: " + "; ".join(differences)
        )
    now = utc_now()
    entries = tuple(
        e
        if e.status == "done" and e.id not in missing
        else attrs.evolve(e, status="pending", result=None)
        for e in manifest.entries
    )
    manifest = attrs.evolve(
        manifest,
        entries=entries,
        status="running",
        updated_at=now,
        resumptions=manifest.resumptions + (Resumption(now, now_env, differences),),
    )
    write_manifest(run_dir, manifest)
    log.info("study.resumed", run_dir=str(run_dir), todo=sum(e.status != "done" for e in entries))
    return StudySession(study, run_dir, manifest, previous, reporter).run()


# -- building blocks ----------------------------------------------------------------------


def _check_sinks(study: StudyConfig) -> None:
    from llem.plugins import get_registry

    registry = get_registry()
    for name in study.output.sinks:
        registry.get("sink", name)  # PluginError naming what to install


def _without_duplicates(study: StudyConfig) -> StudyConfig:
    """Identical experiments would share ids and result files: keep the first."""
    hashes = hashes_of(study)
    keep = [i for i, h in enumerate(hashes) if h not in hashes[:i]]
    if len(keep) == len(hashes):
        return study
    log.warning("study.duplicates_dropped", dropped=len(hashes) - len(keep))
    return attrs.evolve(study, experiments=tuple(study.experiments[i] for i in keep))


def _load_stored_config(run_dir: Path, manifest: Manifest) -> StudyConfig:
    from llem.config.loader import load_config

    path = run_dir / CONFIG_NAME
    if not path.exists():
        raise ConfigError(
            f"{path} is missing: the run directory cannot be resumed without "
            f"the config it was started with"
        )
    inv = manifest.invocation
    # relative inputs are checked where the study started (llem.run.pins maps them there)
    start = inv.started_in if inv.started_in and Path(inv.started_in).is_dir() else "."
    here = os.getcwd()
    os.chdir(start)  # contextlib.chdir is Python 3.11+
    try:
        study = load_config(path, overrides=inv.overrides, profile=inv.profile)
    finally:
        os.chdir(here)
    # a config without `name:` is named after its file, which here is "config"
    return attrs.evolve(study, name=manifest.study, source_path=inv.source_path)


def _check_plan(run_dir: Path, manifest: Manifest, hashes: Sequence[str]) -> None:
    """The stored config must still resolve to the experiments the manifest planned."""
    for e in manifest.entries:
        if e.config_index >= len(hashes) or hashes[e.config_index] != e.config_hash:
            raise ConfigError(
                f"{run_dir / CONFIG_NAME} no longer resolves to the planned experiment "
                f"{e.id} (config #{e.config_index}); was the file, a plugin or the user "
                f"config changed? Restore it, or start a new study with `llem run`"
            )


def _load_previous(
    run_dir: Path, manifest: Manifest
) -> tuple[dict[str, ExperimentResult], set[str]]:
    """Results of done entries from their result.json; ids whose file is unusable."""
    import json

    from llem.results.serialize import result_from_dict
    from llem.results.sinks import result_path

    loaded: dict[str, ExperimentResult] = {}
    missing: set[str] = set()
    for e in manifest.entries:
        if e.status != "done":
            continue
        path = run_dir / e.result if e.result else result_path(run_dir, e.id)
        try:
            loaded[e.id] = result_from_dict(json.loads(path.read_text("utf-8")), str(path))
        except Exception as exc:  # missing, torn by hand, or an old schema: run it again
            log.warning(
                "study.resume.result_unreadable",
                id=e.id,
                path=str(path),
                error=f"{type(exc).__name__}: {exc}"[:300],
            )
            missing.add(e.id)
    return loaded, missing
