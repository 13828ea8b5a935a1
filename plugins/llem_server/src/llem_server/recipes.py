"""How each engine's OpenAI-compatible server is started: data, one Recipe per engine.

A recipe maps llem's model, precision and ``weights: random`` to the engine's own flags,
says which endpoint tells readiness, whether completions accept token-id prompts and
report usage in streams, how a request asks for exactly ``max_tokens`` new tokens, and
which environment variable the server reads an API key from (so the key never goes on
a command line, where /proc and the server's own start-up log would show it).

Checked against each engine's source or reference (docs/server.md says which version):
vLLM 0.26 (``vllm serve``), SGLang 0.5 (``python -m sglang.launch_server``),
llama-cpp-python 0.3.36 (``python -m llama_cpp.server``), llama.cpp's ``llama-server``
(the tree vendored by llama-cpp-python 0.3.36), TensorRT-LLM 1.x (``trtllm-serve``),
transformers 5.25 (``transformers serve``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

MODEL, HOST, PORT = "{model}", "{host}", "{port}"
DTYPES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


@attrs.frozen
class Recipe:
    """One engine's server. ``argv`` is a template ({model} {host} {port}); ``program``
    is the executable (looked up beside the Python interpreter, then on PATH) or, when
    ``module`` is set, ``python -m module``. ``random`` are the flags that make the
    engine fill a config-only checkpoint with random weights (None: it cannot; "gguf":
    llem writes a random-weight GGUF file); ``no_tokenizer`` the flags for a model
    without a tokenizer. ``fixed_length`` maps max_tokens to the request fields that
    make the server generate exactly that many tokens."""

    name: str
    argv: tuple[str, ...]
    program: str | None = None
    module: str | None = None
    dtype_flag: str | None = "--dtype"
    random: tuple[str, ...] | str | None = None
    no_tokenizer: tuple[str, ...] = ()
    health: str = "/health"
    token_prompts: bool = True
    stream_usage: bool = True
    continuous_usage: bool = False  # usage on every chunk (exact tokens per chunk)
    api_key_env: str | None = None
    fixed_length: str = "min_tokens+ignore_eos"
    apis: tuple[str, ...] = ("completions", "chat")
    managed: tuple[str, ...] = ("host", "port", "dtype", "api-key", "load-format")

    def request_fields(self, max_tokens: int, fixed: bool) -> dict[str, Any]:
        """The body fields that bound (and with ``fixed``, pin) the output length."""
        body: dict[str, Any] = {"max_tokens": max_tokens}
        if not fixed:
            return body
        if self.fixed_length == "min_tokens+ignore_eos":
            body.update(min_tokens=max_tokens, ignore_eos=True)
        elif self.fixed_length == "min_tokens":
            body["min_tokens"] = max_tokens
        elif self.fixed_length == "ignore_eos":
            body["ignore_eos"] = True
        elif self.fixed_length == "generation_config":
            body["generation_config"] = json.dumps({"min_new_tokens": max_tokens})
        return body


RECIPES: Mapping[str, Recipe] = {
    "vllm": Recipe(
        "vllm",
        ("serve", MODEL, "--host", HOST, "--port", PORT),
        program="vllm",
        random=("--load-format", "dummy"),
        no_tokenizer=("--skip-tokenizer-init",),
        continuous_usage=True,
        api_key_env="VLLM_API_KEY",
    ),
    "sglang": Recipe(
        "sglang",
        ("--model-path", MODEL, "--host", HOST, "--port", PORT),
        module="sglang.launch_server",
        random=("--load-format", "dummy"),
        no_tokenizer=("--skip-tokenizer-init",),
        managed=("model-path", "host", "port", "dtype", "api-key", "load-format"),
    ),
    "llamacpp": Recipe(  # llama-cpp-python's server: text prompts, no usage in streams
        "llamacpp",
        # one request at a time (a lock); by default a new request interrupts the
        # running one, which would cut every stream but the last
        ("--model", MODEL, "--host", HOST, "--port", PORT, "--interrupt_requests", "False"),
        module="llama_cpp.server",
        dtype_flag=None,
        random="gguf",
        health="/v1/models",
        token_prompts=False,
        stream_usage=False,
        api_key_env="API_KEY",
        fixed_length="min_tokens",
        managed=("model", "host", "port", "api_key", "interrupt_requests"),
    ),
    "llama-server": Recipe(  # llama.cpp's own server
        "llama-server",
        ("--model", MODEL, "--host", HOST, "--port", PORT),
        program="llama-server",
        dtype_flag=None,
        random="gguf",
        api_key_env="LLAMA_API_KEY",
        fixed_length="ignore_eos",
        managed=("model", "m", "host", "port", "api-key"),
    ),
    "trtllm": Recipe(
        "trtllm",
        (MODEL, "--host", HOST, "--port", PORT),
        program="trtllm-serve",
        dtype_flag=None,  # dtype and load_format go in --extra_llm_api_options (a YAML)
        random="trtllm-options",
        managed=("host", "port", "extra_llm_api_options"),
    ),
    "transformers": Recipe(  # text prompts on /v1/completions; loads real weights only
        "transformers",
        ("serve", MODEL, "--host", HOST, "--port", PORT),
        program="transformers",
        token_prompts=False,
        fixed_length="generation_config",
        managed=("host", "port", "dtype"),
    ),
    "command": Recipe("command", ()),
}


def flags(args: Mapping[str, Any]) -> list[str]:
    """``server.args`` as command-line flags: ``{max-num-seqs: 64}`` -> ``--max-num-seqs
    64``; True -> ``--flag``; False/None -> left out; a list -> the flag once per item;
    a mapping -> its JSON."""
    out: list[str] = []
    for key, value in args.items():
        flag = f"--{key}"
        if value is True:
            out.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, Mapping):
            out += [flag, json.dumps(value)]
        elif isinstance(value, list | tuple):
            for item in value:
                out += [flag, str(item)]
        else:
            out += [flag, str(value)]
    return out


def managed_clash(recipe: Recipe, args: Mapping[str, Any]) -> list[str]:
    """Keys of ``args`` that llem sets itself for this recipe."""
    norm = {k.replace("_", "-") for k in recipe.managed}
    return sorted(k for k in args if k.replace("_", "-") in norm)


def fill(template: tuple[str, ...], model: str, host: str, port: int) -> list[str]:
    """The argv template with {model} {host} {port} filled in (nothing else is expanded)."""
    return [a.replace(MODEL, model).replace(HOST, host).replace(PORT, str(port)) for a in template]
