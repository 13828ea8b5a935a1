"""Workers of a backend that preloads modules are forked from the fork server.

Each scenario runs in a fresh interpreter: the fork server is process-wide state, and
the test process may already have one (started by another test's pytorch study).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.core.run.conftest import REPO

pytestmark = pytest.mark.slow

PRELUDE = """\
import json, os, sys
from pathlib import Path
import attrs
from llem.plugins import get_registry
from llem.run.worker import run_in_worker
from tests.core.run.conftest import quick_experiment

get_registry(refresh=True)
out = Path(sys.argv[1])

def run(n, backend="study_fake_preloaded", timeout_s=60, **extra):
    probe = out / f"probe-{n}.json"
    cfg = attrs.evolve(quick_experiment(n, probe_file=str(probe), **extra), backend=backend)
    result = run_in_worker(cfg, experiment_id=f"e{n}", cycle=0, run_dir=out,
                           timeout_s=timeout_s)
    seen = json.loads(probe.read_text()) if probe.exists() else None
    error = result.error
    alive = seen is not None and Path(f"/proc/{seen['pid']}").exists()
    print(json.dumps({"n": n, "status": result.status, "seen": seen, "alive": alive,
                      "signal": error.signal if error else None,
                      "kind": error.kind if error else None}), flush=True)
"""


def _run(body: str, fake_plugin_site: Path, tmp_path: Path) -> tuple[int, dict[int, dict]]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(fake_plugin_site), str(REPO), *filter(None, [env.get("PYTHONPATH")])]
    )
    env["LLEM_TEST_PROBE_ENV"] = "at start"
    env.pop("LLEM_PLUGINS", None)
    proc = subprocess.run(
        [sys.executable, "-c", PRELUDE + textwrap.dedent(body), str(tmp_path)],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    script_pid = next(
        int(line.split()[1]) for line in proc.stdout.splitlines() if line.startswith("pid ")
    )
    return script_pid, {line["n"]: line for line in lines}


def test_workers_are_forked_from_a_server_that_imported_the_preload(fake_plugin_site, tmp_path):
    pid, got = _run(
        """
        print("pid", os.getpid())
        run(0)
        run(1)
        run(2, backend="study_fake")
    """,
        fake_plugin_site,
        tmp_path,
    )
    first, second, plain = got[0], got[1], got[2]
    assert first["status"] == second["status"] == plain["status"] == "ok"
    server = first["seen"]["ppid"]
    assert server != pid, "the worker's parent is the fork server, not the study"
    assert second["seen"]["ppid"] == server  # one server for the whole run
    assert first["seen"]["marker_imported_in"] == server  # imported there, before the fork
    assert first["seen"]["pid"] != second["seen"]["pid"]  # a new process per experiment
    assert first["seen"]["env"] == "at start"
    assert not first["alive"] and not second["alive"]
    # a backend that preloads nothing is spawned from the study's process, as before
    assert plain["seen"]["ppid"] == pid and plain["seen"]["marker_imported_in"] is None


def test_a_changed_environment_is_seen_by_the_worker_which_is_then_spawned(
    fake_plugin_site, tmp_path
):
    pid, got = _run(
        """
        print("pid", os.getpid())
        run(0)
        os.environ["LLEM_TEST_PROBE_ENV"] = "changed"
        run(1)
        os.environ["LLEM_TEST_PROBE_ENV"] = "at start"
        run(2)
    """,
        fake_plugin_site,
        tmp_path,
    )
    server = got[0]["seen"]["ppid"]
    assert server != pid
    changed = got[1]["seen"]
    assert changed["env"] == "changed"
    # torch & co. in the server read the old environment when it started: not forked
    assert changed["ppid"] == pid and changed["marker_imported_in"] is None
    # the environment is back to the server's: forked again
    assert got[2]["seen"]["ppid"] == server and got[2]["seen"]["env"] == "at start"


def test_a_forked_worker_that_dies_or_hangs_is_a_failed_result(fake_plugin_site, tmp_path):
    pid, got = _run(
        """
        print("pid", os.getpid())
        run(0, crash="sigkill")
        run(1, sleep_s=60, timeout_s=3)
        run(2)
    """,
        fake_plugin_site,
        tmp_path,
    )
    killed, hung, fine = got[0], got[1], got[2]
    assert killed["seen"]["ppid"] != pid  # it was forked
    assert killed["status"] == "failed" and killed["signal"] == signal.SIGKILL
    assert hung["status"] == "failed" and hung["kind"] == "timeout"
    assert not killed["alive"] and not hung["alive"]  # killed and reaped on return
    assert fine["status"] == "ok" and fine["seen"]["ppid"] == killed["seen"]["ppid"]


def test_a_preload_that_kills_the_server_falls_back_to_spawned_workers(fake_plugin_site, tmp_path):
    pid, got = _run(
        """
        print("pid", os.getpid())
        backend = get_registry().get("backend", "study_fake_preloaded")
        backend.preload = ("tests.fakes.broken_preload",)
        run(0)
        run(1)
    """,
        fake_plugin_site,
        tmp_path,
    )
    for n in (0, 1):
        assert got[n]["status"] == "ok"
        assert got[n]["seen"]["ppid"] == pid  # spawned, the server being dead


def test_outside_linux_workers_are_spawned(fake_plugin, monkeypatch):
    from llem.run import forkserver

    assert forkserver.backend_preload("study_fake_preloaded") == ("tests.fakes.preload_marker",)
    monkeypatch.setattr(forkserver.sys, "platform", "darwin")
    assert forkserver.worker_context("study_fake_preloaded").get_start_method() == "spawn"
