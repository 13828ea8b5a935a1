"""The streaming HTTP client: one POST per request, Server-Sent Events read as they come.

aiohttp rather than httpx: the core's load generator runs every request on one asyncio
loop, hundreds in flight at high rates, and the client's CPU time is the measurement's
overhead. aiohttp's C-accelerated HTTP parser and stream reader spend less CPU per
chunk than httpx's pure-Python stack (h11), and it is what vLLM's and SGLang's own
serving benchmarks use, so client costs are comparable with theirs.

The stream format is the OpenAI one that vLLM, SGLang, TensorRT-LLM, llama.cpp and
transformers emit: ``data: {json}`` events separated by a blank line, a last content
chunk with ``finish_reason``, with ``stream_options.include_usage`` one more chunk with
``choices: []`` and ``usage``, then ``data: [DONE]``. New tokens per chunk: the change
of ``usage.completion_tokens`` where the server reports usage on every chunk (vLLM's
``continuous_usage_stats``), else one per chunk with content; the final usage report,
where there is one, is authoritative (the last TokenChunk carries the difference).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from typing import Any

import attrs
from llem.plugin import TokenChunk


class StreamError(Exception):
    """A request the server did not complete: an HTTP error, a cut stream, bad data.
    ``connection`` is True when the connection itself failed (the server may be gone)."""

    def __init__(self, message: str, connection: bool = False) -> None:
        super().__init__(message)
        self.connection = connection


@attrs.frozen
class Endpoint:
    """Where requests go: ``base`` (http://host:port), the API and the request's model."""

    base: str
    api: str  # completions | chat
    model: str
    headers: Mapping[str, str] = attrs.field(factory=dict, repr=False)  # may hold the key
    continuous_usage: bool = False
    stream_usage: bool = True

    @property
    def path(self) -> str:
        return "/v1/completions" if self.api == "completions" else "/v1/chat/completions"

    def body(self, prompt: str | list[int], fields: Mapping[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"model": self.model, "stream": True, **fields}
        if self.api == "completions":
            body["prompt"] = prompt
        else:
            body["messages"] = [{"role": "user", "content": prompt}]
        if self.stream_usage:
            body["stream_options"] = {"include_usage": True}
            if self.continuous_usage:
                body["stream_options"]["continuous_usage_stats"] = True
        return body


async def stream_completion(
    session: Any, endpoint: Endpoint, body: Mapping[str, Any]
) -> AsyncIterator[TokenChunk]:
    """POST ``body`` and yield a TokenChunk per content chunk, the last ``finished``.
    Raises StreamError when the server answers with an error or the stream ends
    before ``[DONE]``."""
    import aiohttp

    counted, usage, done = 0, None, False
    try:
        async with session.post(endpoint.base + endpoint.path, json=body) as resp:
            if resp.status != 200:
                text = (await resp.text())[:500]
                raise StreamError(f"HTTP {resp.status} from {endpoint.path}: {text}")
            async for data in _events(resp.content):
                if data == "[DONE]":
                    done = True
                    break
                chunk = _parse(data)
                usage = chunk.get("usage") or usage
                new = _new_tokens(chunk, counted, endpoint.continuous_usage)
                if new:
                    counted += new
                    yield TokenChunk(new_tokens=new)
    except aiohttp.ClientPayloadError as exc:
        raise StreamError(
            f"the stream from {endpoint.path} was cut after {counted} tokens, before [DONE] "
            f"({exc})",
            connection=True,
        ) from None
    except aiohttp.ClientError as exc:
        raise StreamError(
            f"the connection to {endpoint.base} failed after {counted} tokens: "
            f"{type(exc).__name__}: {exc}",
            connection=True,
        ) from None
    if not done:
        raise StreamError(
            f"the stream from {endpoint.path} ended after {counted} tokens, before [DONE]",
            connection=True,
        )
    yield _last(counted, usage)  # after the response is released: a consumer may stop here


async def _events(content: Any) -> AsyncIterator[str]:
    """The ``data:`` payloads of an SSE stream (comments and other fields skipped)."""
    async for raw in content:
        line = raw.decode("utf-8").rstrip("\r\n")
        if line.startswith("data:"):
            yield line[5:].lstrip(" ")


def _parse(data: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except json.JSONDecodeError:
        raise StreamError(f"the server sent an event that is not JSON: {data[:200]!r}") from None
    if not isinstance(chunk, dict):
        raise StreamError(f"the server sent an event that is not an object: {data[:200]!r}")
    if "error" in chunk:  # vLLM and SGLang report errors mid-stream this way
        raise StreamError(f"the server reported an error mid-stream: {chunk['error']}")
    return chunk


def _new_tokens(chunk: Mapping[str, Any], counted: int, continuous: bool) -> int:
    choices = chunk.get("choices") or []
    if not choices:
        return 0
    usage = chunk.get("usage")
    if continuous and usage and usage.get("completion_tokens") is not None:
        return max(0, int(usage["completion_tokens"]) - counted)
    choice = choices[0]
    text = choice.get("text")
    if text is None:
        text = (choice.get("delta") or {}).get("content")
    return 1 if text else 0


def _last(counted: int, usage: Mapping[str, Any] | None) -> TokenChunk:
    if usage is None:
        return TokenChunk(new_tokens=0, finished=True)
    total = int(usage.get("completion_tokens", counted))
    prompt = usage.get("prompt_tokens")
    return TokenChunk(
        new_tokens=max(0, total - counted),
        finished=True,
        input_tokens=None if prompt is None else int(prompt),
    )
