"""The server's process group: nothing outlives a stop, a crash of the server, or the
death of the worker that started it (PR_SET_PDEATHSIG through the guard)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from llem_server.process import ServerProcess, free_port, group_alive
from llem_server_testutil import alive, fake_command

WORKER = textwrap.dedent(
    """
    import json, sys, time, urllib.request
    from pathlib import Path
    from llem_server.process import ServerProcess
    argv, log = json.loads(sys.argv[1]), Path(sys.argv[2])
    server = ServerProcess(argv, dict(__import__("os").environ), log)
    server.start()
    while "fake: child pid" not in log.read_text():
        time.sleep(0.05)
    time.sleep(0.3)
    print("PIDS", json.dumps(sorted(server.pids())), flush=True)
    time.sleep(600)
    """
)


def wait_gone(pids, timeout_s=10.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not [p for p in pids if alive(p)]:
            return []
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def argv_for_fake() -> list[str]:
    port = free_port("127.0.0.1")
    cmd = fake_command("--spawn-child")
    return [a.replace("{host}", "127.0.0.1").replace("{port}", str(port)) for a in cmd]


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_the_server_and_its_children_die_with_the_worker(tmp_path, sig):
    worker = subprocess.Popen(
        [sys.executable, "-c", WORKER, json.dumps(argv_for_fake()), str(tmp_path / "s.log")],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = next(li for li in worker.stdout if li.startswith("PIDS "))
        pids = json.loads(line[5:])
        assert len(pids) >= 3, pids  # guard, server, the server's child
        assert all(alive(p) for p in pids)
        os.kill(worker.pid, sig)
        worker.wait(10)
        assert wait_gone(pids) == []
    finally:
        worker.kill()
        worker.wait()


def test_stop_terminates_the_whole_group_and_is_idempotent(tmp_path):
    server = ServerProcess(argv_for_fake(), dict(os.environ), tmp_path / "s.log")
    server.start()
    deadline = time.monotonic() + 20
    while "fake: child pid" not in (tmp_path / "s.log").read_text():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    pids, pgid = server.pids(), server.pid
    assert server.stop(grace_s=10) == ["SIGTERM"]
    assert wait_gone(pids, 2.0) == []
    assert not group_alive(pgid)
    assert server.stop(grace_s=10) == []


def test_a_server_that_ignores_sigterm_is_killed_after_the_grace(tmp_path):
    stubborn = [
        sys.executable,
        "-c",
        "import signal,time; signal.signal(15, signal.SIG_IGN); "
        "print('u' + 'p!', flush=True); time.sleep(600)",
    ]
    server = ServerProcess(stubborn, dict(os.environ), tmp_path / "s.log")
    server.start()
    while "up!" not in (tmp_path / "s.log").read_text():
        time.sleep(0.05)
    pids = server.pids()
    t0 = time.monotonic()
    assert server.stop(grace_s=0.5) == ["SIGTERM", "SIGKILL"]
    assert time.monotonic() - t0 < 5
    assert wait_gone(pids, 2.0) == []


def test_the_log_tail_never_shows_a_redacted_secret(tmp_path):
    leaky = [sys.executable, "-c", "print('key is s3cr3t-' + 'value', flush=True)"]
    server = ServerProcess(leaky, dict(os.environ), tmp_path / "s.log", redact=["s3cr3t-value"])
    server.start()
    server.proc.wait(10)
    assert "key is ***" in server.tail()
    assert "s3cr3t-value" not in server.died_message(0, "while starting")
    server.stop(grace_s=1)
