"""The host's side: a Backend whose every call runs in the backend's container."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import attrs

from llem.config.schema import ExperimentConfig
from llem.containers import engine
from llem.containers.channel import LOG_NAME, Listening
from llem.errors import ConfigError, PluginError, PreflightError
from llem.interfaces import Backend, Device, Problem, Request, RequestRecord, TokenChunk
from llem.measure.quality import claim_process_tree, release_process_tree

CONNECT_TIMEOUT_S = 300.0  # image start + the engine's imports inside it
ERRORS = {"PreflightError": PreflightError, "ConfigError": ConfigError, "PluginError": PluginError}


class ContainerFailed(RuntimeError):
    """The backend failed in its container, or the container died; the message holds the
    container's last log lines."""


class ContainerBackend(Backend):
    name = "container"
    serves = True  # the backend inside decides; an unserving one fails its first stream

    def __init__(
        self, cfg: ExperimentConfig, devices: Sequence[Device], image: str, exp_dir: Path
    ) -> None:
        super().__init__(None)
        self.backend = cfg.backend
        self.section = cfg.section(cfg.backend)
        self.devices = tuple(devices)
        self.image = image
        self.exp_dir = exp_dir
        self.container = f"llem-{cfg.backend}-{uuid.uuid4().hex[:12]}"
        self.info: dict[str, Any] = {"kind": "docker", "image": image}
        self._docker: Any = None
        self._listening: Listening | None = None
        self._calls: Connection | None = None
        self._watch: Connection | None = None
        self._streams: dict[int, asyncio.Queue[Any]] = {}
        self._stopped: asyncio.Future[None] | None = None
        self._next_id = 0
        self._pid: int | None = None

    # -- lifecycle calls -------------------------------------------------------------------
    def preflight(self, cfg: ExperimentConfig) -> list[Problem]:
        self._docker = engine.client()
        engine.check_image(self._docker, self.image, self.backend)
        if self.devices:
            engine.check_gpu_runtime(self._docker)
        self.info.update(engine.image_facts(self._docker, self.image))
        self.info["runtime"] = engine.runtime(self._docker, bool(self.devices))
        self.info["container"] = self.container
        self._start()
        return list(self._request("preflight", cfg) or [])

    def load(self, cfg: ExperimentConfig, devices: Sequence[Device]) -> None:
        inside = [attrs.evolve(d, cuda_index=i) for i, d in enumerate(devices)]
        facts = self._request("load", cfg, inside)
        self.vocab_size = facts["vocab_size"]
        self.num_parameters = facts["num_parameters"]

    def generate(self, requests: Sequence[Request], gen: Any) -> list[RequestRecord]:
        return list(self._request("generate", list(requests), gen))

    def synchronize(self) -> None:
        self._request("synchronize")

    def engine_steps(self) -> Any:
        return self._request("engine_steps")

    def close(self) -> None:
        try:
            if self._calls is not None:
                self._request("close")
                self._request("exit")
        finally:
            self._teardown()

    # -- serving ---------------------------------------------------------------------------
    async def start_serving(self, gen: Any) -> None:
        self._request("serve", gen)
        loop = asyncio.get_running_loop()
        self._stopped = loop.create_future()
        loop.add_reader(self._conn.fileno(), self._on_message)

    async def stream(self, request: Request, gen: Any) -> AsyncIterator[TokenChunk]:
        rid = self._next_id
        self._next_id += 1
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._streams[rid] = queue
        self._conn.send(("stream", (rid, request, gen)))
        done = False
        try:
            while True:
                message = await queue.get()
                if message[0] == "chunk":
                    yield message[2]
                elif message[0] == "end":
                    done = True
                    return
                else:
                    done = True
                    raise ContainerFailed(message[2] if message[0] == "failed" else message[1])
        finally:
            self._streams.pop(rid, None)
            if not done and self._calls is not None:
                self._conn.send(("cancel", (rid,)))

    async def stop_serving(self) -> None:
        self._conn.send(("serve_stop", ()))
        assert self._stopped is not None
        try:
            await self._stopped
        finally:
            asyncio.get_running_loop().remove_reader(self._conn.fileno())

    def _on_message(self) -> None:
        try:
            while self._conn.poll():
                message = self._conn.recv()
                if message[0] == "ok":
                    if self._stopped is not None and not self._stopped.done():
                        self._stopped.set_result(None)
                    continue
                queue = self._streams.get(message[1])
                if queue is not None:
                    queue.put_nowait(message)
        except (EOFError, OSError):
            failure = ("lost", self._died("while serving"))
            for queue in self._streams.values():
                queue.put_nowait(failure)
            if self._stopped is not None and not self._stopped.done():
                self._stopped.set_exception(ContainerFailed(failure[1]))
            asyncio.get_running_loop().remove_reader(self._conn.fileno())

    # -- the channel -----------------------------------------------------------------------
    @property
    def _conn(self) -> Connection:
        if self._calls is None:
            raise ContainerFailed("the backend's container is not running")
        return self._calls

    def _start(self) -> None:
        self._listening = Listening()
        t = time.perf_counter()
        engine.start(
            self._docker,
            image=self.image,
            name=self.container,
            backend=self.backend,
            mount_dir=str(self._listening.dir),
            gpu_uuids=[d.uuid for d in self.devices],
            labels={engine.LABEL: str(self.exp_dir.parent.parent)},
        )

        def alive() -> bool:
            return engine.is_running(self._docker, self.container)

        try:
            self._calls = self._listening.accept(CONNECT_TIMEOUT_S, alive)
            self._watch = self._listening.accept(CONNECT_TIMEOUT_S, alive)
        except (TimeoutError, ConnectionError) as exc:
            raise ContainerFailed(self._died(f"at start: {exc}")) from None
        self.info["start_s"] = round(time.perf_counter() - t, 3)
        self._pid = engine.main_pid(self._docker, self.container)
        if self._pid:
            claim_process_tree(self._pid)  # its GPU processes are this experiment's own
        self._calls.send(self.section)
        self._answer()

    def _request(self, method: str, *args: Any) -> Any:
        self._conn.send((method, args))
        return self._answer()

    def _answer(self) -> Any:
        while True:
            try:
                reply = self._conn.recv()
            except (EOFError, OSError):
                raise ContainerFailed(self._died("during a call")) from None
            if reply[0] in ("ok", "error"):
                break
            queue = self._streams.get(reply[1])  # a stream's late chunk: to its queue
            if queue is not None:
                queue.put_nowait(reply)
        if reply[0] == "ok":
            return reply[1]
        _, kind, message, tail = reply
        raise ERRORS.get(kind, ContainerFailed)(
            message if kind in ERRORS else f"{kind}: {message} (in the container)\n{tail}"
        )

    def _died(self, when: str) -> str:
        self._teardown()
        logs = _tail(self.exp_dir / LOG_NAME)
        return f"the {self.backend!r} backend's container {self.container} ended {when}" + (
            f"; its last log lines:\n{logs}" if logs else ""
        )

    def _teardown(self) -> None:
        for conn in (self._calls, self._watch):
            if conn is not None:
                conn.close()
        self._calls = self._watch = None
        if self._pid:
            release_process_tree(self._pid)
            self._pid = None
        if self._docker is not None:
            engine.remove(self._docker, self.container)
        if self._listening is not None:
            log = self._listening.dir / LOG_NAME
            if log.exists():
                self.exp_dir.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(log, self.exp_dir / LOG_NAME)
            self._listening.close()
            self._listening = None


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""
