"""The launched server's process: start it in its own session, wait until it answers,
watch it, and make sure that it and everything it started are gone when it stops.

The server runs under ``guard.py`` (see there) as the leader of a new session and
process group, so one ``killpg`` reaches the server and its children (vLLM's engine
core, tensor-parallel workers), and the kernel kills that group when the worker dies.
Its stdout and stderr go to ``log_path`` (the experiment's ``server.log``); the last
lines of it explain a failure. ``stop`` sends SIGTERM to the group, waits
``grace_s``, then SIGKILLs what is left, including descendants that had left the group
when the stop began.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import structlog
from llem.plugin import ExperimentFailed

from llem_server import guard

log = structlog.get_logger()
TAIL_LINES = 20
POLL_S = 0.2


def free_port(host: str) -> int:
    """A TCP port nobody listens on at ``host`` right now (the kernel's choice)."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def process_tree(root: int) -> set[int]:
    """``root`` and its descendants, from /proc (empty when ``root`` is gone)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    tree: set[int] = set()
    todo = [root] if os.path.exists(f"/proc/{root}") else []
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, []))
    return tree


def group_alive(pgid: int) -> bool:
    """Whether any process (zombies aside: they hold no GPU memory) is in group ``pgid``."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


class ServerProcess:
    """One launched server. ``redact`` strings (an API key) never reach log tails."""

    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        log_path: Path,
        redact: Sequence[str] = (),
    ) -> None:
        self.argv = list(argv)
        self.env = dict(env)
        self.log_path = log_path
        self.redact = [r for r in redact if r]
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    def start(self) -> None:
        """Start the guard and, under it, the server (never blocks on the server)."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            out.write(f"# llem: starting {' '.join(self.argv)}\n".encode())
            out.flush()
            try:
                self.proc = subprocess.Popen(
                    [sys.executable, guard.__file__, str(os.getpid()), "--", *self.argv],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    start_new_session=True,
                )
            except OSError as exc:
                raise ExperimentFailed(f"the server could not be started: {exc}") from None
        log.info("server.started", pid=self.proc.pid, argv=self.argv, log=str(self.log_path))

    def exit_code(self) -> int | None:
        """None while the server runs, else its exit status (128 + n: killed by signal n)."""
        return None if self.proc is None else self.proc.poll()

    def pids(self) -> set[int]:
        """The guard, the server and every process they started, now."""
        if self.proc is None or self.proc.poll() is not None:
            return set()
        return process_tree(self.proc.pid)

    def wait_ready(self, ready: Callable[[], bool], timeout_s: float) -> float:
        """Poll ``ready()`` until it is True; seconds it took. A server that exits or is
        not ready within ``timeout_s`` fails the experiment with its last log lines."""
        t0 = time.monotonic()
        while True:
            code = self.exit_code()
            if code is not None:
                raise ExperimentFailed(self.died_message(code, "while starting"))
            if ready():
                return time.monotonic() - t0
            if time.monotonic() - t0 > timeout_s:
                self.stop(grace_s=5.0)
                raise ExperimentFailed(
                    f"the server was not ready within server.ready_timeout_s={timeout_s:g} s "
                    f"and was stopped. Fix: raise server.ready_timeout_s (engines compile "
                    f"and load for minutes on first start) or read its log "
                    f"{self.log_path}; last lines:\n{self.tail()}"
                )
            time.sleep(POLL_S)

    def died_message(self, code: int, when: str) -> str:
        how = f"was killed by signal {code - 128}" if code > 128 else f"exited with code {code}"
        return f"the server {how} {when}; its log is {self.log_path}; last lines:\n{self.tail()}"

    def tail(self, lines: int = TAIL_LINES) -> str:
        try:
            text = self.log_path.read_bytes()[-16_384:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"
        for secret in self.redact:
            text = text.replace(secret, "***")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, grace_s: float) -> list[str]:
        """Stop the server and all its processes; returns what was done. Idempotent."""
        if self.proc is None:
            return []
        proc, self.proc = self.proc, None
        pgid, done = proc.pid, []
        tree = {pid: _started(pid) for pid in process_tree(proc.pid) if pid != proc.pid}
        if proc.poll() is None or group_alive(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
                done.append("SIGTERM")
            if not _wait(lambda: proc.poll() is not None and not group_alive(pgid), grace_s):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
                    done.append("SIGKILL")
        for pid, started in tree.items():  # descendants that left the group (setsid)
            if started is not None and _started(pid) == started:  # the same process
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.kill(pid, signal.SIGKILL)
        proc.wait()
        _wait(lambda: not group_alive(pgid), 5.0)
        log.info("server.stopped", pid=pgid, steps=done, exit=proc.returncode)
        return done


def _started(pid: int) -> int | None:
    """When ``pid`` started (clock ticks since boot), to tell it from a reused PID."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return int(fh.read().rsplit(")", 1)[1].split()[19])
    except (OSError, ValueError, IndexError):
        return None


def _wait(cond: Callable[[], bool], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
