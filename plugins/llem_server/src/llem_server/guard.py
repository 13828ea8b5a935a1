"""The server's guard: the first process of the server's session; the server is its child.

Run as a script (``python guard.py WORKER_PID -- ARGV...``; it imports nothing of llem,
so it starts in milliseconds). It exists so that no engine outlives its experiment:

- it asks the kernel for SIGUSR1 when its parent, the worker, dies (PR_SET_PDEATHSIG;
  the kernel sends it when the *thread* that started the guard ends, so the backend
  starts servers from the worker's main thread), and on SIGUSR1 kills its whole
  process group with SIGKILL: the server and every process the server started;
- when the server exits by itself, it kills what the server left in the group and exits
  with the server's status (128 + signal for a signal), so the worker sees one exit;
- SIGTERM to the group (a normal stop) reaches the server directly; the guard ignores
  it and waits for the server, so the engine gets its graceful shutdown.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys

PR_SET_PDEATHSIG = 1


def kill_group_members(sig: int) -> None:
    """Send ``sig`` to every other process of this process group (read from /proc)."""
    me, group = os.getpid(), os.getpgrp()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == group:  # fields: state ppid pgrp ...
            with contextlib.suppress(OSError):
                os.kill(int(entry), sig)


def _on_parent_death(_sig: int, _frame: object) -> None:
    os.killpg(os.getpgrp(), signal.SIGKILL)  # the guard goes too


def main(argv: list[str]) -> int:
    parent, sep, command = int(argv[0]), argv[1], argv[2:]
    if sep != "--" or not command:
        print("usage: guard.py WORKER_PID -- ARGV...", file=sys.stderr)
        return 2
    signal.signal(signal.SIGUSR1, _on_parent_death)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGUSR1), 0, 0, 0) != 0:
        print(f"guard: prctl failed (errno {ctypes.get_errno()})", file=sys.stderr)
    if os.getppid() != parent:  # the worker died before prctl took effect
        return 1
    server = subprocess.Popen(command, restore_signals=True, preexec_fn=_default_term)
    code = server.wait()
    kill_group_members(signal.SIGKILL)
    return 128 - code if code < 0 else code


def _default_term() -> None:
    """In the server's child before exec: default SIGTERM (the guard ignores it), and
    SIGKILL should the guard itself be killed."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
