"""A fake OpenAI-compatible streaming server, a real HTTP server on loopback (aiohttp.web).

Mimics vLLM's OpenAI server (vllm/entrypoints/openai: serving_completion.py,
serving_chat.py, protocol.py): ``GET /health`` (200, empty body), ``GET /v1/models``,
``POST /v1/completions`` and ``/v1/chat/completions`` with ``stream: true`` answered as
Server-Sent Events ``data: {json}\\n\\n``; every chunk carries ``"usage": null`` unless
``stream_options.continuous_usage_stats`` asks for usage on each; the last content
chunk has ``finish_reason: "length"``; with ``stream_options.include_usage`` one more
chunk with ``choices: []`` and the usage; then ``data: [DONE]``. Errors are vLLM's
``{"object": "error", "message", "type", "param", "code"}``; a missing or wrong API key
is 401 ``{"error": "Unauthorized"}``. Prompts: token ids count one each, text one per
character (the vocabulary of llem's GGUF, one character per token).

Batching like a continuous-batching engine: one engine step every ``--step-ms``; each
step gives one token to each of the first ``--max-batch`` unfinished requests (FIFO),
the others wait, so time to first token grows with load.

Faults: ``--startup-delay-s`` (slow start: the port opens late), ``--fail-first N``
(the first N completion requests get HTTP 500), ``--drop-after N`` (each stream is cut
after N tokens, no [DONE]), ``--crash-after-tokens N`` (the process exits with code 17
once N tokens were sent in all), ``--exit-at-start`` (exits with code 3 before
listening, after printing an error).

Run: ``python tests/fakes/openai_server.py --host 127.0.0.1 --port 8000 [options]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from typing import Any

from aiohttp import web


class Engine:
    """The step loop: a token for each of the first ``max_batch`` waiting streams."""

    def __init__(self, step_s: float, max_batch: int, crash_after: int | None) -> None:
        self.step_s, self.max_batch, self.crash_after = step_s, max_batch, crash_after
        self.running: list[asyncio.Queue[int]] = []
        self.sent = 0
        self.max_seen_batch = 0

    async def run(self) -> None:
        while True:
            await asyncio.sleep(self.step_s)
            batch = self.running[: self.max_batch]
            self.max_seen_batch = max(self.max_seen_batch, len(batch))
            for queue in batch:
                queue.put_nowait(1)
                self.sent += 1
                if self.crash_after is not None and self.sent >= self.crash_after:
                    print(f"fake: crashing after {self.sent} tokens", flush=True)
                    os._exit(17)


def error(status: int, message: str, kind: str) -> web.Response:
    body = {"object": "error", "message": message, "type": kind, "param": None, "code": status}
    return web.json_response(body, status=status)


def make_app(args: argparse.Namespace) -> web.Application:
    engine = Engine(args.step_ms / 1000, args.max_batch, args.crash_after_tokens)
    state = {"requests": 0}

    async def start_engine(app: web.Application) -> None:
        app["engine_task"] = asyncio.get_running_loop().create_task(engine.run())

    @web.middleware
    async def auth(request: web.Request, handler: Any) -> web.StreamResponse:
        wanted = f"Bearer {args.api_key}"
        if (
            args.api_key
            and request.path.startswith("/v1")
            and (request.headers.get("Authorization") != wanted)
        ):
            return web.json_response({"error": "Unauthorized"}, status=401)
        return await handler(request)

    async def health(_request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def models(_request: web.Request) -> web.Response:
        card = {
            "id": args.model_name,
            "object": "model",
            "created": int(time.time()),
            "owned_by": "vllm",
            "root": args.model_name,
            "parent": None,
            "max_model_len": 4096,
        }
        return web.json_response({"object": "list", "data": [card]})

    async def completions(request: web.Request) -> web.StreamResponse:
        return await answer(request, chat=False)

    async def chat(request: web.Request) -> web.StreamResponse:
        return await answer(request, chat=True)

    async def answer(request: web.Request, chat: bool) -> web.StreamResponse:
        body = await request.json()
        state["requests"] += 1
        if state["requests"] <= args.fail_first:
            return error(500, "Internal server error (fake --fail-first)", "InternalServerError")
        if body.get("model") != args.model_name:
            return error(404, f"The model `{body.get('model')}` does not exist.", "NotFoundError")
        if not body.get("stream"):
            return error(400, "the fake answers streams only", "BadRequestError")
        prompt_tokens = _prompt_tokens(body, chat)
        if prompt_tokens is None:
            return error(400, "prompt must be a string or a list of token ids", "BadRequestError")
        print(f"fake: request prompt_tokens={prompt_tokens} max_tokens={body.get('max_tokens')}")
        return await _stream(request, body, chat, prompt_tokens, engine, args)

    app = web.Application(middlewares=[auth])
    app.on_startup.append(start_engine)
    app["engine"] = engine
    app.router.add_get("/health", health)
    app.router.add_get("/v1/models", models)
    app.router.add_post("/v1/completions", completions)
    app.router.add_post("/v1/chat/completions", chat)
    return app


def _prompt_tokens(body: dict[str, Any], chat: bool) -> int | None:
    if chat:
        return sum(len(str(m.get("content", ""))) for m in body.get("messages", []))
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        return len(prompt)
    if isinstance(prompt, list) and all(isinstance(t, int) for t in prompt):
        return len(prompt)
    return None


async def _stream(
    request: web.Request,
    body: dict[str, Any],
    chat: bool,
    prompt_tokens: int,
    engine: Engine,
    args: argparse.Namespace,
) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8"})
    await resp.prepare(request)
    options = body.get("stream_options") or {}
    usage_each = bool(options.get("include_usage") and options.get("continuous_usage_stats"))
    rid = ("chatcmpl-" if chat else "cmpl-") + uuid.uuid4().hex
    created, n = int(time.time()), int(body.get("max_tokens") or 16)

    def chunk(choice: dict[str, Any] | None, done: int, usage: bool) -> bytes:
        data = {
            "id": rid,
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": created,
            "model": args.model_name,
            "choices": [] if choice is None else [choice],
            "usage": _usage(prompt_tokens, done) if usage else None,
        }
        return f"data: {json.dumps(data)}\n\n".encode()

    if chat:
        first = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None}
        await resp.write(chunk({**first, "finish_reason": None}, 0, usage_each))
    queue: asyncio.Queue[int] = asyncio.Queue()
    engine.running.append(queue)
    try:
        for i in range(1, n + 1):
            await queue.get()
            if args.drop_after is not None and i > args.drop_after:
                request.transport.close()  # cut mid-stream: no [DONE]
                return resp
            reason = "length" if i == n else None
            text = chr(0x4E00 + i % 500)
            choice = (
                {"index": 0, "delta": {"content": text}, "logprobs": None}
                if chat
                else {"index": 0, "text": text, "logprobs": None}
            )
            await resp.write(
                chunk({**choice, "finish_reason": reason, "stop_reason": None}, i, usage_each)
            )
    finally:
        engine.running.remove(queue)
    if options.get("include_usage"):
        await resp.write(chunk(None, n, True))
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


def _usage(prompt: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "total_tokens": prompt + completion,
        "completion_tokens": completion,
        "prompt_tokens_details": None,
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--model-name", default="fake-model")
    p.add_argument("--step-ms", type=float, default=5.0)
    p.add_argument("--max-batch", type=int, default=8)
    p.add_argument("--startup-delay-s", type=float, default=0.0)
    p.add_argument("--fail-first", type=int, default=0)
    p.add_argument("--drop-after", type=int, default=None)
    p.add_argument("--crash-after-tokens", type=int, default=None)
    p.add_argument("--exit-at-start", action="store_true")
    p.add_argument("--spawn-child", action="store_true", help="start a sleeping child process")
    args = p.parse_args(argv)
    args.api_key = os.environ.get("FAKE_API_KEY")  # as vLLM reads VLLM_API_KEY
    print(f"fake: CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')!r}", flush=True)
    if args.exit_at_start:
        print("fake: error: could not load the model (fake --exit-at-start)", flush=True)
        sys.exit(3)
    if args.spawn_child:  # an engine's worker process: must die with the server
        import subprocess

        sleeper = [sys.executable, "-c", "import time; time.sleep(600)", args.model_name]
        child = subprocess.Popen(sleeper)  # its argv names the model, for tests to find
        print(f"fake: child pid {child.pid}", flush=True)
    time.sleep(args.startup_delay_s)
    print(f"fake: listening on {args.host}:{args.port}", flush=True)
    web.run_app(make_app(args), host=args.host, port=args.port, print=None)


if __name__ == "__main__":
    main()
