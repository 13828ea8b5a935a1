"""The server's processes count as the experiment's own, never as "other processes on the
GPU": the backend claims the server's process tree (llem.plugin.claim_process_tree)."""

from __future__ import annotations

import os
import subprocess
import sys

from llem.measure import quality
from llem.telemetry.devices import resolve_devices
from llem_server_testutil import experiment, fake_section

from tests.fakes.machine import fake_nvml  # noqa: F401  (fixture)


def test_a_claimed_process_tree_is_not_another_process(fake_nvml, monkeypatch):  # noqa: F811
    monkeypatch.setattr(quality, "gpu_users", lambda pids: set(pids))
    outsider = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True
    )
    try:
        me = os.getpid()
        fake_nvml.configure(gpus=[{"processes": [[me, 100], [outsider.pid, 100]]}])
        devices = resolve_devices([0])
        monkeypatch.setattr(quality, "process_tree", lambda root: {root})
        assert [w.code for w in quality.other_processes(devices)] == ["other_process"]
        quality.claim_process_tree(outsider.pid)
        try:
            assert quality.other_processes(devices) == []
        finally:
            quality.release_process_tree(outsider.pid)
        assert [w.code for w in quality.other_processes(devices)] == ["other_process"]
    finally:
        outsider.kill()
        outsider.wait()


def test_the_backend_claims_its_server_while_it_runs_and_releases_it(launched):
    backend = launched(fake_section())
    pid = backend.server.pid
    assert pid in quality._CLAIMED
    backend.close()
    assert pid not in quality._CLAIMED


def test_an_attached_local_server_is_claimed_by_its_listening_port(launched):
    from llem_server.backend import ServerBackend
    from llem_server.config import ServerConfig

    owner = launched(fake_section())
    attached = ServerBackend(ServerConfig(launch="vllm", url=owner.endpoint.base))
    attached.load(experiment(attached.section), ())
    try:
        listener = attached.details["server_pid"]
        assert listener in owner.server.pids()  # the fake server, under the first's guard
        assert listener in quality._CLAIMED
    finally:
        attached.close()
    assert listener not in quality._CLAIMED
