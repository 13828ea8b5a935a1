"""Study test fixtures: quick experiment configs, the ``study_fake`` plugin, an
in-process stand-in for ``run_in_worker`` (for the runner's own logic, in milliseconds).
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from pathlib import Path
from typing import Any

import attrs
import pytest
from llem.config.schema import (
    BaselineConfig,
    DatasetConfig,
    ExecutionConfig,
    ExperimentConfig,
    GenerationConfig,
    StudyConfig,
    WarmupConfig,
)
from llem.results.schema import ExperimentResult, Failure

from tests.fakes import study_backend
from tests.fakes.study_results import make_result

REPO = Path(__file__).resolve().parents[3]


def quick_experiment(i: int = 0, **extra: Any) -> ExperimentConfig:
    """A tiny, fast experiment on the study_fake backend; ``i`` makes it distinct."""
    return ExperimentConfig(
        model="builtin:tiny-llama",
        backend="study_fake",
        weights="random",
        precision="fp32",
        dataset=DatasetConfig(num_prompts=2, input_len=8, seed=i),
        generation=GenerationConfig(max_new_tokens=4 + i),
        warmup=WarmupConfig(runs=0, thermal_floor_s=0.0),
        baseline=BaselineConfig(enabled=False),
        sections={"study_fake": study_backend.StudyFakeConfig(extra=extra)},
    )


def quick_study(
    n: int = 2,
    cycles: int = 3,
    *,
    order: str = "interleaved",
    extras: dict[int, dict] | None = None,
    **execution: Any,
) -> StudyConfig:
    extras = extras or {}
    ex = ExecutionConfig(cycles=cycles, order=order, config_gap_s=0.0, cycle_gap_s=0.0, **execution)
    return StudyConfig(
        name="t",
        experiments=tuple(quick_experiment(i, **extras.get(i, {})) for i in range(n)),
        execution=ex,
    )


@pytest.fixture(scope="session")
def fake_plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory whose dist-info announces the study_fake backend (entry point)."""
    return study_backend.install(tmp_path_factory.mktemp("site"))


@pytest.fixture
def fake_plugin(fake_plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """study_fake is installed for this test only: here (sys.path) and in the spawned
    workers and CLI subprocesses (PYTHONPATH); other tests see the usual registry."""
    from llem.plugins import get_registry

    paths = [str(fake_plugin_site), str(REPO)]
    if os.environ.get("PYTHONPATH"):
        paths.append(os.environ["PYTHONPATH"])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(paths))
    monkeypatch.delenv("LLEM_PLUGINS", raising=False)
    sys.path.insert(0, str(fake_plugin_site))
    get_registry(refresh=True)
    try:
        yield fake_plugin_site
    finally:
        sys.path.remove(str(fake_plugin_site))
        get_registry(refresh=True)


def gone(pid: int, within_s: float = 0.0) -> bool:
    """Whether process ``pid`` is dead (no such process, or a zombie waiting for its new
    parent to reap it), waiting up to ``within_s`` for it."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().rsplit(")", 1)[1].split()[0] == "Z":
                    return True
        except FileNotFoundError:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)


@attrs.define
class FakeWorker:
    """Stands in for llem.run.worker.run_in_worker, in process.

    Behaviour from the study_fake section's ``extra``: ``fail`` (always failed),
    ``fail_first`` (first attempt fails), ``energy``, ``itl``. ``interrupt_at_call``: the
    n-th call (1-based) raises KeyboardInterrupt, as run_in_worker does after killing its
    child.
    """

    calls: list[tuple[str, float | None]] = attrs.Factory(list)
    seen_manifests: list[dict] = attrs.Factory(list)
    interrupt_at_call: int | None = None

    def __call__(
        self,
        cfg: ExperimentConfig,
        *,
        experiment_id: str,
        cycle: int,
        run_dir: Path,
        timeout_s: float | None,
        events: Any = None,
    ) -> ExperimentResult:
        import json

        self.seen_manifests.append(json.loads((run_dir / "manifest.json").read_text()))
        self.calls.append((experiment_id, timeout_s))
        if events is not None:
            events.put(("phase", experiment_id, "measuring"))
        b = study_backend.behaviour(cfg)
        config_hash = experiment_id.rsplit("-c", 1)[0]
        if len(self.calls) == self.interrupt_at_call:
            raise KeyboardInterrupt
        failed = b.get("fail") or (
            b.get("fail_first") and sum(c[0] == experiment_id for c in self.calls) == 1
        )
        if failed:
            r = make_result(config_hash, cycle, status="failed")
            return attrs.evolve(r, error=Failure(kind="exception", message="told to fail"))
        return make_result(
            config_hash,
            cycle,
            energy_per_token=b.get("energy", 0.5) + cycle * 0.01,
            itl=b.get("itl", 0.01),
        )


@pytest.fixture
def fake_worker(monkeypatch: pytest.MonkeyPatch, fake_plugin: Path) -> FakeWorker:
    worker = FakeWorker()
    module = importlib.import_module("llem.run.worker")
    monkeypatch.setattr(module, "run_in_worker", worker)
    # the kept worker of execution.reuse_engine runs through the same stand-in
    monkeypatch.setattr(module.EngineKeeper, "run", lambda self, cfg, **kw: worker(cfg, **kw))
    return worker


def tagged_processes(tag: str) -> list[int]:
    """Live (not zombie) processes whose environment holds LLEM_TEST_TAG=``tag``: the
    runner started with it and everything it started (workers, the fork server, what
    they started), since each inherits the environment."""
    needle = f"LLEM_TEST_TAG={tag}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def no_process_left(tag: str, within_s: float) -> list[int]:
    """The processes of ``tag`` still alive after waiting up to ``within_s``."""
    deadline = time.monotonic() + within_s
    while (left := tagged_processes(tag)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left
