"""A deterministic backend for study tests: no model, behaviour chosen per experiment.

Registered as backend ``study_fake`` (``study_fake_preloaded``: the same, but it asks
for ``tests.fakes.preload_marker`` to be preloaded, so its workers are forked from the
fork server; and ``study_broken``, a sink that always fails) through an entry point (see
``install``), so the real worker process finds it exactly as it finds a third-party
plugin. Its behaviour comes from the ``extra`` mapping of its section (``study_fake:
{extra: {...}}``, or the section named after the preloaded backend; see ``behaviour``):

- ``sleep_s``: how long ``generate`` takes (default 0.05);
- ``crash``: ``sigkill`` (the worker kills itself with SIGKILL in generate) or
  ``raise`` (generate raises RuntimeError);
- ``fail_once_marker``: a path; the first attempt creates it and raises, later
  attempts succeed (for retries);
- ``count_dir``: a directory; every ``load`` drops a file there, so a test can count
  how many experiments actually ran across a study and its resume;
- ``probe_file``: a path; ``load`` writes there, as JSON, its process id, its parent's,
  the id of the process that imported ``tests.fakes.preload_marker`` (null if nobody
  did) and the value of LLEM_TEST_PROBE_ENV.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs
from llem import Backend, RequestRecord, Sink, hookimpl

from tests.fakes.dist_info import announce

ENTRY_POINT = "study_fake"


@attrs.frozen
class StudyFakeConfig:
    extra: dict[str, Any] = attrs.field(factory=dict)


def behaviour(cfg: Any) -> dict[str, Any]:
    """``extra`` of the experiment's section named after its backend, else of the
    ``study_fake`` section (a test may switch a quick experiment's backend)."""
    for name in (cfg.backend, ENTRY_POINT):
        section = cfg.section(name)
        if section is not None:
            return dict(section.extra)
    return {}


class StudyFakeBackend(Backend[StudyFakeConfig]):
    name = "study_fake"

    def load(self, cfg: Any, devices: Sequence[Any]) -> None:
        self.behaviour = behaviour(cfg)
        self.vocab_size = 512
        self.num_parameters = 1000
        count_dir = self.behaviour.get("count_dir")
        if count_dir:
            Path(count_dir).mkdir(parents=True, exist_ok=True)
            (Path(count_dir) / f"{os.getpid()}-{uuid.uuid4().hex}").touch()
        probe_file = self.behaviour.get("probe_file")
        if probe_file:
            marker = sys.modules.get("tests.fakes.preload_marker")
            Path(probe_file).write_text(
                json.dumps(
                    {
                        "pid": os.getpid(),
                        "ppid": os.getppid(),
                        "marker_imported_in": getattr(marker, "IMPORTED_IN", None),
                        "env": os.environ.get("LLEM_TEST_PROBE_ENV"),
                    }
                )
            )

    def generate(self, requests: Sequence[Any], gen: Any) -> list[RequestRecord]:
        b = self.behaviour
        if b.get("crash") == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        if b.get("crash") == "raise":
            raise RuntimeError("study_fake was told to fail")
        marker = b.get("fail_once_marker")
        if marker and not Path(marker).exists():
            Path(marker).touch()
            raise RuntimeError("study_fake fails its first attempt")
        start = time.perf_counter_ns()
        time.sleep(float(b.get("sleep_s", 0.05)))
        end = time.perf_counter_ns()
        records = []
        for r in requests:
            n = r.max_new_tokens
            step = (end - start) // (n + 1)
            times = tuple(start + step * (i + 1) for i in range(n))
            records.append(
                RequestRecord(
                    request_id=r.id,
                    input_tokens=len(r.input_ids) if r.input_ids is not None else 8,
                    output_tokens=n,
                    t_submit_ns=start,
                    t_first_token_ns=times[0],
                    t_end_ns=end,
                    token_times_ns=times,
                )
            )
        return records


class PreloadedStudyFakeBackend(StudyFakeBackend):
    name = "study_fake_preloaded"
    preload = ("tests.fakes.preload_marker",)


class BrokenSink(Sink):
    """A sink whose every write fails: a study must report it and carry on."""

    name = "study_broken"

    def write_experiment(self, result: Any) -> None:
        raise OSError("disk full (study_broken sink)")

    def write_study(self, study: Any) -> None:
        raise OSError("disk full (study_broken sink)")


@hookimpl
def register_backends(register):  # type: ignore[no-untyped-def]
    register(StudyFakeBackend)
    register(PreloadedStudyFakeBackend)


@hookimpl
def register_sinks(register):  # type: ignore[no-untyped-def]
    register(BrokenSink)


def install(site_dir: Path) -> Path:
    """Announce this module as the plugin ``study_fake`` via a dist-info directory in
    ``site_dir``; put ``site_dir`` on sys.path / PYTHONPATH (the spawned worker inherits
    sys.path) and refresh the registry to load it."""
    return announce(site_dir, "llem-study-fake", "0.0", ENTRY_POINT, "tests.fakes.study_backend")
