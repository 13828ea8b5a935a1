"""From an experiment to the server's command line and environment (nothing started here).

The model: a built-in architecture with ``weights: random`` becomes what the recipe can
load with random weights (a config-only checkpoint plus the engine's dummy-load flags,
or a random-weight GGUF file that llem writes); any other model id is passed on as it
is. The precision becomes the engine's dtype flag. The GPUs: CUDA_VISIBLE_DEVICES of
the server is the experiment's devices by UUID (empty for a CPU experiment), so the
server runs on exactly the GPUs llem measures, whatever order CUDA would number them
in. The API key goes into the environment variable the engine reads (never argv).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import attrs
from llem.plugin import Device, ExperimentConfig, Problem, architectures

from llem_server.config import ServerConfig
from llem_server.recipes import DTYPES, RECIPES, Recipe, fill, flags, managed_clash

VISIBLE = "CUDA_VISIBLE_DEVICES"


@attrs.frozen
class Launch:
    """What to run: argv, the environment changes, the model file llem wrote (if any)."""

    argv: tuple[str, ...]
    env: Mapping[str, str] = attrs.field(repr=False)
    gguf_vocab: int | None = None  # the vocabulary size of a GGUF file llem wrote


def program(recipe: Recipe) -> list[str] | None:
    """How to run the recipe's server here, or None when it is not installed."""
    if recipe.module is not None:
        import importlib.util

        try:
            found = importlib.util.find_spec(recipe.module.rsplit(".", 1)[0]) is not None
        except (ImportError, ValueError):
            found = False
        return [sys.executable, "-m", recipe.module] if found else None
    assert recipe.program is not None
    beside = Path(sys.executable).parent / recipe.program
    if beside.is_file() and os.access(beside, os.X_OK):
        return [str(beside)]
    path = shutil.which(recipe.program)
    return None if path is None else [path]


def problems(section: ServerConfig, cfg: ExperimentConfig) -> list[Problem]:
    """What stops this recipe from running this experiment, found before anything starts."""
    recipe = RECIPES[section.launch]
    out: list[Problem] = []
    clash = managed_clash(recipe, section.args)
    if clash:
        out.append(
            Problem(
                f"server.args sets {', '.join(clash)}, which llem sets itself for "
                f"launch: {recipe.name}",
                "use model:, precision:, weights:, server.host/port/api_key_env instead",
            )
        )
    if section.url is None:
        out += _parallel_problems(section.args, len(cfg.devices))
    if section.url is None and recipe.name != "command":
        if program(recipe) is None:
            what = recipe.module or recipe.program
            out.append(Problem(f"{what} is not installed here", _install_hint(recipe)))
        out += _model_problems(recipe, cfg)
    if section.api not in recipe.apis:
        out.append(Problem(f"launch: {recipe.name} has no {section.api} API", "set api: chat"))
    if (
        section.api_key_env is not None
        and section.url is None
        and recipe.name != "command"
        and recipe.api_key_env is None
    ):
        out.append(
            Problem(
                f"{recipe.name}'s server reads its API key only from its command line, "
                f"where the key would be visible in the process list and its log",
                "start the server yourself and attach with server.url, or drop api_key_env",
            )
        )
    return out


TP_FLAGS = ("tensor-parallel-size", "tp", "tp-size", "tp_size")
PP_FLAGS = ("pipeline-parallel-size", "pp", "pp-size", "pp_size")


def _parallel_problems(args: Mapping[str, Any], n_devices: int) -> list[Problem]:
    """The engine's tensor x pipeline parallel size must be the number of devices."""

    def size(names: tuple[str, ...]) -> int:
        return next((int(args[k]) for k in names if k in args), 1)

    world = size(TP_FLAGS) * size(PP_FLAGS)
    if n_devices in (0, world):
        return []
    return [
        Problem(
            f"the server's tensor x pipeline parallel size is {world} (server.args), but "
            f"devices lists {n_devices} GPU(s): it would run on GPUs llem does not "
            f"measure, or leave measured ones idle",
            f"set server.args tensor-parallel-size (vllm), tp (sglang) or tp_size "
            f"(trtllm) to {n_devices}, or devices to {world} GPU(s)",
        )
    ]


def _model_problems(recipe: Recipe, cfg: ExperimentConfig) -> list[Problem]:
    kind = architectures.model_kind(cfg.model)
    if cfg.weights == "random" and recipe.random is None:
        return [
            Problem(
                f"{recipe.name}'s server loads real weights only (no dummy load format)",
                "use weights: pretrained with a model that has weights, or another launch",
            )
        ]
    if recipe.random == "gguf":
        if kind == "builtin" and cfg.weights == "random":
            from llem_server.gguf_model import supported

            why = supported(architectures.load_architecture(cfg.model) or {})
            return [] if why is None else [Problem(f"cannot write a GGUF for {why}")]
        if not cfg.model.endswith(".gguf"):
            return [
                Problem(
                    f"{recipe.name} serves GGUF files; model {cfg.model!r} is not one",
                    "set model: to a .gguf file, or model: builtin:... with weights: random",
                )
            ]
        return []
    return architectures.model_problems(cfg.model, cfg.weights, f"{recipe.name} random weights")


def plan(
    section: ServerConfig,
    cfg: ExperimentConfig,
    devices: Sequence[Device],
    port: int,
    workdir: Path,
    api_key: str | None,
    environ: Mapping[str, str] = os.environ,
) -> Launch:
    """The command line and environment of the server for this experiment."""
    recipe = RECIPES[section.launch]
    env = dict(environ)
    env[VISIBLE] = ",".join(d.uuid for d in devices)
    model, extra, vocab = _model(recipe, cfg, workdir)
    if recipe.name == "command":
        assert section.command is not None
        argv = fill(section.command, model, section.host, port)
    else:
        base = program(recipe) or [recipe.program or recipe.module or recipe.name]
        argv = [*base, *fill(recipe.argv, model, section.host, port), *extra]
        if recipe.dtype_flag is not None:
            argv += [recipe.dtype_flag, DTYPES[cfg.precision]]
        argv += flags(section.args)
    if api_key is not None:
        env[recipe.api_key_env or section.api_key_env or "API_KEY"] = api_key
    return Launch(tuple(argv), env, vocab)


def _model(
    recipe: Recipe, cfg: ExperimentConfig, workdir: Path
) -> tuple[str, list[str], int | None]:
    """The model argument, the flags it needs, and the GGUF vocabulary size if llem wrote one."""
    builtin = architectures.model_kind(cfg.model) == "builtin"
    if not (builtin and cfg.weights == "random"):
        return cfg.model, [], None
    arch = architectures.load_architecture(cfg.model) or {}
    if recipe.random == "gguf":
        from llem_server.gguf_model import write_gguf

        path = write_gguf(arch, workdir / "model.gguf", cfg.precision)
        return str(path), [], int(arch["vocab_size"])
    config_dir = architectures.write_config_checkpoint(arch, str(workdir / "checkpoint-"))
    if recipe.random == "trtllm-options":
        options = workdir / "llm_api_options.yaml"
        options.write_text(
            f"load_format: dummy\nskip_tokenizer_init: true\ndtype: {DTYPES[cfg.precision]}\n"
        )
        return config_dir, ["--extra_llm_api_options", str(options)], None
    extra = list(recipe.random or ()) if isinstance(recipe.random, tuple) else []
    return config_dir, extra + list(recipe.no_tokenizer), None


def _install_hint(recipe: Recipe) -> str:
    hints: dict[str, str] = {
        "vllm": "pip install vllm==0.26.*",
        "sglang": "pip install 'sglang[all]'",
        "llamacpp": "pip install 'llama-cpp-python[server]' (compiles llama.cpp)",
        "llama-server": "build llama.cpp (cmake --build build --target llama-server) and put "
        "llama-server on PATH",
        "trtllm": "use NVIDIA's TensorRT-LLM release image, or pip install tensorrt_llm",
        "transformers": "pip install 'transformers[serving]'",
    }
    return hints.get(recipe.name, "")


def vocab_size(cfg: ExperimentConfig) -> int | None:
    """The model's vocabulary size where llem can read it without the engine."""
    arch: Any = architectures.load_architecture(cfg.model)
    if arch and "vocab_size" in arch:
        return int(arch["vocab_size"])
    return None
