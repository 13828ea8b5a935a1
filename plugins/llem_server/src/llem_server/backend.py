"""The ``server`` backend: an engine behind its OpenAI-compatible HTTP server.

``load`` starts the server (or attaches to ``server.url``) and waits until it answers;
serving mode streams each request over HTTP at its planned time (``stream``); offline
mode (``generate``) streams all requests at once on a private event loop, so the
server's own scheduler batches them. ``close`` stops the server and everything it
started. The server's processes are claimed as the experiment's own (never "other
processes on the GPU"), and it runs on exactly the experiment's GPUs.

``details`` (stored in the result's ``backend_details``): the launch, the server's
command line (API key never in it), readiness seconds, the log file, and the CPU time
of the client: ``client_cpu_s`` is the CPU time of the thread running the event loop
(the HTTP client, plus in serving mode the core's load generator) during the window,
``worker_cpu_s`` the whole worker process's.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import structlog
from llem.plugin import (
    Backend,
    Device,
    ExperimentConfig,
    ExperimentFailed,
    GenerationConfig,
    Problem,
    Request,
    RequestRecord,
    TokenChunk,
    claim_process_tree,
    release_process_tree,
)

from llem_server import launch, offline, readiness, request_body
from llem_server.client import Endpoint, StreamError, stream_completion
from llem_server.config import ServerConfig
from llem_server.process import ServerProcess, free_port
from llem_server.recipes import RECIPES

log = structlog.get_logger()
EXPERIMENT_DIR_ENV = "LLEM_EXPERIMENT_DIR"  # set by the core's lifecycle
LOG_NAME = "server.log"
DEATH_GRACE_S = 2.0  # after a cut connection, how long to wait for a dying server's exit
FALLBACK_VOCAB = 32_000  # ids below it are valid for any model with a real vocabulary


class ServerBackend(Backend):
    name = "server"
    config_type = ServerConfig
    requires = ("aiohttp",)
    install_hint = "pip install 'llem-server[http]'"
    serves = True

    def __init__(self, section: ServerConfig | None = None) -> None:
        super().__init__(section if section is not None else ServerConfig())
        self._info: dict[str, Any] = {}  # what ``details`` reports, besides the client's CPU
        self.server: ServerProcess | None = None
        self.endpoint: Endpoint | None = None
        self._workdir: Path | None = None
        self._claimed: int | None = None
        self._gguf_vocab: int | None = None
        self._session: Any = None
        self._watch: asyncio.Task[None] | None = None
        self._died: str | None = None
        self._cpu0: tuple[float, float, float] = (0.0, 0.0, 0.0)
        self._tokens = 0

    @classmethod
    def missing_requirement(cls) -> str | None:
        import importlib.util

        if importlib.util.find_spec("aiohttp") is None:
            return f"aiohttp not installed: {cls.install_hint}"
        return None

    def preflight(self, cfg: ExperimentConfig) -> list[Problem]:
        section: ServerConfig = self.section
        problems = launch.problems(section, cfg)
        if section.api_key_env and section.api_key_env not in os.environ:
            problems.append(
                Problem(
                    f"server.api_key_env names {section.api_key_env}, which is not set",
                    f"export {section.api_key_env}=... before llem run",
                )
            )
        recipe = RECIPES[section.launch]
        if cfg.dataset.source == "synthetic" and not self._takes_token_ids(cfg):
            problems.append(
                Problem(
                    f"launch: {recipe.name} takes text prompts only, and dataset.source "
                    f"synthetic gives token ids",
                    "use a text dataset (dataset.source: jsonl), or a server that takes "
                    "token ids (vllm, sglang, llama-server, trtllm)",
                )
            )
        return problems

    def _takes_token_ids(self, cfg: ExperimentConfig) -> bool:
        recipe = RECIPES[self.section.launch]
        if recipe.random == "gguf" and cfg.weights == "random" and self.section.url is None:
            return True  # text in llem's own GGUF vocabulary has exact lengths
        return recipe.token_prompts and self.section.api == "completions"

    # -- load / close ------------------------------------------------------------------
    def load(self, cfg: ExperimentConfig, devices: Sequence[Device]) -> None:
        try:
            self._load(cfg, devices)
        except BaseException:
            self.close()
            raise

    def _load(self, cfg: ExperimentConfig, devices: Sequence[Device]) -> None:
        section: ServerConfig = self.section
        key = os.environ.get(section.api_key_env) if section.api_key_env else None
        if section.url is not None:
            base = section.url.rstrip("/")
            self._info = {"launch": "url", "url": base}
            ready_s = readiness.wait(base, RECIPES[section.launch].health, key, None, section)
            self._claim_listener(base)
        else:
            base, ready_s = self._launch(cfg, devices, key)
        model = section.served_model or readiness.served_model(base, key)
        recipe = RECIPES[section.launch]
        self.endpoint = Endpoint(
            base=base,
            api=section.api,
            model=model,
            headers={"Authorization": f"Bearer {key}"} if key else {},
            continuous_usage=recipe.continuous_usage,
            stream_usage=recipe.stream_usage,
        )
        self.vocab_size = self._gguf_vocab or launch.vocab_size(cfg) or FALLBACK_VOCAB
        self._info.update(ready_s=round(ready_s, 3), served_model=model, api=section.api)
        log.info("server.ready", base=base, model=model, ready_s=round(ready_s, 3))

    def _launch(
        self, cfg: ExperimentConfig, devices: Sequence[Device], key: str | None
    ) -> tuple[str, float]:
        section: ServerConfig = self.section
        port = section.port or free_port(section.host)
        host = f"[{section.host}]" if ":" in section.host else section.host
        base = f"http://{host}:{port}"
        self._workdir = Path(tempfile.mkdtemp(prefix="llem-server-"))
        plan = launch.plan(section, cfg, devices, port, self._workdir, key)
        self._gguf_vocab = plan.gguf_vocab
        log_path = _experiment_dir(self._workdir) / LOG_NAME
        self.server = ServerProcess(plan.argv, plan.env, log_path, redact=[key or ""])
        self.server.start()
        assert self.server.pid is not None
        claim_process_tree(self.server.pid)
        self._claimed = self.server.pid
        self._info = {
            "launch": section.launch,
            "argv": list(plan.argv),
            "url": base,
            "server_log": str(log_path),
            "cuda_visible_devices": plan.env.get(launch.VISIBLE),
        }
        health = RECIPES[section.launch].health
        ready_s = readiness.wait(base, health, key, self.server, section)
        return base, ready_s

    def _claim_listener(self, base: str) -> None:
        """An attached server on this machine: claim the process listening on its port."""
        pid = readiness.listening_pid(base)
        if pid is not None:
            claim_process_tree(pid)
            self._claimed = pid
            self._info["server_pid"] = pid

    def close(self) -> None:
        if self._claimed is not None:
            release_process_tree(self._claimed)
            self._claimed = None
        server, self.server = self.server, None
        if server is not None:
            steps = server.stop(self.section.stop_timeout_s)
            self._info["stop"] = steps
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self.endpoint = None

    # -- serving -----------------------------------------------------------------------
    async def start_serving(self, gen: GenerationConfig) -> None:
        import aiohttp

        if self.endpoint is None:
            raise ExperimentFailed("server backend: start_serving() called before load()")
        self._died = None
        self._session = aiohttp.ClientSession(
            headers=dict(self.endpoint.headers),
            timeout=aiohttp.ClientTimeout(total=self.section.request_timeout_s, sock_connect=30),
            connector=aiohttp.TCPConnector(limit=0, force_close=False),
        )
        self._watch = asyncio.get_running_loop().create_task(self._watch_server())
        self._tokens = 0
        self._cpu0 = (time.thread_time(), time.process_time(), time.perf_counter())

    async def stream(self, request: Request, gen: GenerationConfig) -> AsyncIterator[TokenChunk]:
        """One request over HTTP; a dead server fails the experiment (ExperimentFailed),
        a failed request raises StreamError with what the server said."""
        assert self.endpoint is not None and self._session is not None
        if self._died:
            raise ExperimentFailed(self._died)
        recipe = RECIPES[self.section.launch]
        prompt = request_body.prompt(request, recipe, self.section.api, self._gguf_vocab)
        fields = request_body.fields(request, gen, recipe, self._gguf_vocab)
        body = self.endpoint.body(prompt, fields)
        try:
            async for chunk in stream_completion(self._session, self.endpoint, body):
                self._tokens += chunk.new_tokens
                yield chunk
        except StreamError as exc:
            if exc.connection and await self._dies_within(DEATH_GRACE_S):
                raise ExperimentFailed(str(self._died)) from None
            raise StreamError(f"request {request.id}: {exc}", exc.connection) from None

    @property
    def details(self) -> dict[str, Any]:
        """For the result's ``backend_details``; read while serving (the lifecycle builds
        the result before ``stop_serving``) it includes the client's CPU time so far."""
        live = self._client_cpu() if self._session is not None else {}
        return {**self._info, **live}

    def _client_cpu(self) -> dict[str, Any]:
        """CPU time of this (the event loop's) thread and of the process since
        ``start_serving``; call it from the loop's thread."""
        cpu = time.thread_time() - self._cpu0[0]
        return {
            "client_cpu_s": round(cpu, 6),
            "worker_cpu_s": round(time.process_time() - self._cpu0[1], 6),
            "client_wall_s": round(time.perf_counter() - self._cpu0[2], 6),
            "client_tokens": self._tokens,
            "client_cpu_us_per_token": round(cpu / self._tokens * 1e6, 3) if self._tokens else None,
        }

    async def stop_serving(self) -> None:
        if self._session is not None:
            self._info.update(self._client_cpu())
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._died:
            raise ExperimentFailed(self._died)

    async def _dies_within(self, seconds: float) -> bool:
        """Whether the server has exited, or does within ``seconds``: a cut connection
        is often the first sign of a crash, seen before the process is reaped."""
        deadline = time.monotonic() + seconds
        while not self._server_died():
            if self.server is None or time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    async def _watch_server(self) -> None:
        while not self._server_died():
            await asyncio.sleep(0.2)

    def _server_died(self) -> bool:
        code = None if self.server is None else self.server.exit_code()
        if code is not None and self._died is None and self.server is not None:
            self._died = self.server.died_message(code, "during the run")
            log.error("server.died", exit=code)
        return self._died is not None

    # -- offline -----------------------------------------------------------------------
    def generate(self, requests: Sequence[Request], gen: GenerationConfig) -> list[RequestRecord]:
        """All requests at once over HTTP on a private event loop; any failed request
        fails the experiment with the first error (and the server's log if it died)."""
        if self.endpoint is None:
            raise ExperimentFailed("server backend: generate() called before load()")
        return asyncio.run(offline.stream_all(self, requests, gen))


def _experiment_dir(fallback: Path) -> Path:
    value = os.environ.get(EXPERIMENT_DIR_ENV)
    return Path(value) if value else fallback
