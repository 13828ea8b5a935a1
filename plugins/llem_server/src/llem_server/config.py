"""The ``server:`` section: which OpenAI-compatible server to start (or attach to) and how.

Checked when the config loads, so a bad value is a ConfigError with its file and line
before any server starts. What needs the installed engine (its executable) is checked
in ``ServerBackend.preflight``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import attrs
from attrs import validators as v

Launch = Literal["vllm", "sglang", "llamacpp", "llama-server", "trtllm", "transformers", "command"]
Api = Literal["completions", "chat"]
PLACEHOLDERS = ("{model}", "{host}", "{port}")
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ARG_VALUE = (str, int, float, bool, type(None))


def _command(inst: Any, _attr: attrs.Attribute, value: tuple[str, ...] | None) -> None:
    if value is None:
        return
    if not value or not all(isinstance(a, str) and a for a in value):
        raise ValueError("server.command must be a non-empty list of argv strings")
    if not any("{port}" in a for a in value) and inst.port is None:
        raise ValueError(
            "server.command must contain {port} (llem picks a free port and the server must "
            "listen on it), or set server.port to the port the command listens on"
        )


def _args(_inst: Any, _attr: attrs.Attribute, value: Mapping[str, Any]) -> None:
    for key, val in value.items():
        if not isinstance(key, str) or not key or key.startswith("-"):
            raise ValueError(
                f"server.args key {key!r}: write the flag without dashes (max-num-seqs: 64 "
                f"becomes --max-num-seqs 64)"
            )
        items = val if isinstance(val, list | tuple) else [val]
        if not all(isinstance(i, ARG_VALUE) for i in items) and not isinstance(val, Mapping):
            raise ValueError(
                f"server.args.{key} must be a scalar, a list of scalars or a mapping "
                f"(passed as JSON), got {type(val).__name__}"
            )


def _url(_inst: Any, _attr: attrs.Attribute, value: str | None) -> None:
    if value is not None and not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"server.url must be http(s)://host:port, got {value!r}")


def _env_name(_inst: Any, _attr: attrs.Attribute, value: str | None) -> None:
    if value is not None and not ENV_NAME.match(value):
        raise ValueError(
            f"server.api_key_env names an environment variable (e.g. OPENAI_API_KEY), got "
            f"{value!r}; never put the key itself in the config"
        )


@attrs.frozen
class ServerConfig:
    """How the ``server`` backend reaches an OpenAI-compatible server (docs/server.md).

    - ``launch``: the recipe (llem_server.recipes) that maps the experiment's model,
      precision and ``weights: random`` to the engine's flags.
    - ``command``: the argv template of ``launch: command``; {model} {host} {port} are
      filled in.
    - ``args``: engine flags passed through: ``{max-num-seqs: 64}`` -> ``--max-num-seqs
      64``, True -> a bare flag, a list -> the flag repeated, a mapping -> JSON.
    - ``url``: attach to a server that already runs (nothing is launched; ``devices``
      then says which GPUs it runs on).
    - ``api``: the OpenAI API the requests use.
    - ``ready_timeout_s``: how long the server may take to answer its readiness endpoint.
    - ``stop_timeout_s``: how long the server gets after SIGTERM before SIGKILL.
    - ``host``: the address the launched server binds (loopback unless told otherwise).
    - ``port``: its port; None picks a free one.
    - ``api_key_env``: the name of the environment variable holding the API key (the
      key itself is never stored).
    - ``served_model``: the requests' ``model``; None asks /v1/models.
    - ``request_timeout_s``: the longest one streamed request may take.
    """

    launch: Launch = "vllm"
    command: tuple[str, ...] | None = attrs.field(default=None, validator=_command)
    args: Mapping[str, Any] = attrs.field(factory=dict, validator=_args)
    url: str | None = attrs.field(default=None, validator=_url)
    api: Api = "completions"
    ready_timeout_s: float = attrs.field(default=600.0, validator=v.gt(0))
    stop_timeout_s: float = attrs.field(default=30.0, validator=v.gt(0))
    host: str = "127.0.0.1"
    port: int | None = attrs.field(default=None, validator=v.optional([v.ge(1), v.le(65535)]))
    api_key_env: str | None = attrs.field(default=None, validator=_env_name)
    served_model: str | None = None  # the request's `model`; default: the first of /v1/models
    request_timeout_s: float = attrs.field(default=3600.0, validator=v.gt(0))

    def __attrs_post_init__(self) -> None:
        if self.launch == "command" and self.command is None and self.url is None:
            raise ValueError("server.launch: command needs server.command (an argv template)")
        if self.command is not None and self.launch != "command":
            raise ValueError(
                f"server.command is only read with launch: command (launch is {self.launch!r})"
            )
        if self.url is not None and (self.command is not None or self.args):
            raise ValueError(
                "server.url attaches to a running server: server.command and server.args "
                "would not be used; remove them or remove url"
            )
