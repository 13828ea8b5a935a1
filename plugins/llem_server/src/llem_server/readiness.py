"""Is the server ready, what model does it serve, and which process listens on its port.

Plain blocking HTTP (urllib) outside the measured window: ``load`` polls the recipe's
readiness endpoint (``/health``, or ``/v1/models`` where there is none) until it answers
200, then asks ``/v1/models`` for the name requests must carry.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

from llem.plugin import ExperimentFailed

PROBE_TIMEOUT_S = 2.0
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _get(url: str, key: str | None) -> tuple[int, bytes]:
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"} if key else {})
    try:
        with urllib.request.urlopen(req, timeout=PROBE_TIMEOUT_S) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except (OSError, ValueError):
        return 0, b""


def answers(url: str, key: str | None) -> bool:
    return _get(url, key)[0] == 200


def wait(base: str, health: str, key: str | None, server: Any, section: Any) -> float:
    """Seconds until ``base + health`` answered 200. With a launched ``server`` its exit or
    the ready timeout fail the experiment with its log (ServerProcess.wait_ready); an
    attached server must answer within ``ready_timeout_s``."""
    url = base + health
    if server is not None:
        return float(server.wait_ready(lambda: answers(url, key), section.ready_timeout_s))
    t0 = time.monotonic()
    while not answers(url, key):
        if time.monotonic() - t0 > section.ready_timeout_s:
            status, _ = _get(url, key)
            said = f"HTTP {status}" if status else "no answer"
            raise ExperimentFailed(
                f"the server at server.url={base} was not ready within "
                f"server.ready_timeout_s={section.ready_timeout_s:g} s ({health}: {said}). "
                f"Fix: start it first, or check the URL and api_key_env"
            )
        time.sleep(0.2)
    return time.monotonic() - t0


def served_model(base: str, key: str | None) -> str:
    """The first model id of ``/v1/models`` (what every request's ``model`` must name)."""
    status, body = _get(base + "/v1/models", key)
    try:
        data = json.loads(body)["data"]
        return str(data[0]["id"])
    except (ValueError, KeyError, IndexError, TypeError):
        raise ExperimentFailed(
            f"{base}/v1/models answered HTTP {status} without a model list, so the model "
            f"name for requests is unknown. Fix: set server.served_model"
        ) from None


def listening_pid(base: str) -> int | None:
    """The PID listening on ``base``'s port when it is a loopback address here (from
    /proc/net/tcp*), or None (another machine, another PID namespace, no permission)."""
    parts = urlsplit(base)
    if parts.hostname not in LOOPBACK or parts.port is None:
        return None
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as fh:
                rows = fh.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == parts.port:
                inodes.add(f"socket:[{cols[9]}]")
    for entry in os.listdir("/proc") if inodes else []:
        if not entry.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{entry}/fd/{fd}") in inodes:
                    return int(entry)
            except OSError:
                continue
    return None
