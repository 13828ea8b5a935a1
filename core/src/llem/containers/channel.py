"""The socket pair between the host's worker and the backend in its container.

The host listens on a Unix socket in a private directory it mounts into the container
at ``MOUNT``; the container connects twice: first the call channel, then the watch
channel, which carries nothing and only ends -- the container's cue that the worker is
gone. Messages are pickled ``multiprocessing.connection.Connection`` frames.
"""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

MOUNT = "/llem"
SOCKET_NAME = "backend.sock"
LOG_NAME = "container.log"  # the container's stdout and stderr, kept with the experiment


class Listening:
    """The host's end before the container has connected."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="llem-c-"))  # short: socket paths max 107 B
        os.chmod(self.dir, 0o700)
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.bind(str(self.dir / SOCKET_NAME))
        self._socket.listen(2)

    def accept(self, timeout_s: float, alive: Callable[[], bool]) -> Connection:
        """The next connection; TimeoutError after ``timeout_s``, ConnectionError when
        ``alive()`` turns False first (the container exited before connecting)."""
        deadline = time.monotonic() + timeout_s
        self._socket.settimeout(1.0)
        while True:
            try:
                sock, _ = self._socket.accept()
            except TimeoutError:
                if not alive():
                    raise ConnectionError("the container exited before it connected") from None
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no connection within {timeout_s:g} s") from None
                continue
            sock.setblocking(True)
            return Connection(sock.detach())

    def close(self) -> None:
        self._socket.close()
        for entry in self.dir.iterdir():
            entry.unlink(missing_ok=True)
        self.dir.rmdir()


def connect(directory: str = MOUNT) -> tuple[Connection, Connection]:
    """The container's end: (call channel, watch channel)."""
    path = str(Path(directory) / SOCKET_NAME)
    pair = []
    for _ in range(2):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.connect(path)
        pair.append(Connection(sock.detach()))
    return pair[0], pair[1]
