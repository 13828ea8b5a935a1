"""The local files an experiment reads, checked when the config loads.

A JSONL dataset with a bad line, a file that is not UTF-8 or a ``model: ./ckpt`` that
does not exist would otherwise surface only in the worker, after the model loaded (exit
1, or a confusing "not a hub id" from the engine). Here they are config problems
(exit 2) pointing at the config line and, for a bad JSONL line, at ``file:line`` of it.
The JSONL reader is also the one the workload uses, so both agree on what a prompt is.
"""

from __future__ import annotations

import functools
import json
import os
from pathlib import Path

from llem.config.document import surrogate_problem
from llem.config.problems import Issue
from llem.config.schema import ExperimentConfig
from llem.errors import ConfigError

PATH_PREFIXES = ("/", "./", "../", "~", ".\\", "..\\")


def input_issues(cfg: ExperimentConfig) -> list[Issue]:
    """Problems of the local model directory and the JSONL dataset of ``cfg``."""
    issues = []
    model = cfg.model
    if model.startswith(PATH_PREFIXES) and not Path(model).expanduser().is_dir():
        what = "is a file, not a directory" if Path(model).expanduser().exists() else "not found"
        issues.append(
            Issue(
                ("model",),
                f"{model!r} reads as a local path ({what}); a local model is a directory "
                f"with config.json and the weights (a hub id looks like org/name)",
            )
        )
    if cfg.dataset.source == "jsonl" and cfg.dataset.path:
        problem = _jsonl_problem(os.path.abspath(cfg.dataset.path), cfg.dataset.num_prompts)
        if problem is not None:
            issues.append(Issue(("dataset", "path"), problem))
    return issues


def _jsonl_problem(path: str, limit: int) -> str | None:
    try:
        stat = os.stat(path)
    except OSError:
        stat = None
    key = (stat.st_mtime_ns, stat.st_size) if stat is not None else None
    return _cached_jsonl_problem(path, limit, key)


@functools.lru_cache(maxsize=64)
def _cached_jsonl_problem(path: str, limit: int, _key: tuple | None) -> str | None:
    try:
        read_jsonl_prompts(Path(path), limit)
    except ConfigError as exc:
        return str(exc)
    return None


def read_jsonl_prompts(path: Path, limit: int) -> list[str]:
    """The ``prompt`` of the first ``limit`` non-blank lines of ``path``; a ConfigError
    naming ``file:line`` for a line that is not UTF-8, not JSON or has no prompt."""
    if not path.is_file():
        raise ConfigError(
            f"dataset.path {path}: no such file; point dataset.path at a "
            f'JSONL file with one {{"prompt": "..."}} object per line'
        )
    prompts: list[str] = []
    try:
        with path.open("rb") as fh:
            for number, raw in enumerate(fh, start=1):
                if len(prompts) >= limit:
                    break
                line = _decoded(raw, f"{path}:{number}")
                if line.strip():
                    prompts.append(_prompt_of(line, f"{path}:{number}"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    if not prompts:
        raise ConfigError(
            f'{path}: no prompts (the file is empty); add lines like {{"prompt": "Explain ..."}}'
        )
    return prompts


def _decoded(raw: bytes, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{where}:{exc.start + 1}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); "
            f"save the file as UTF-8"
        ) from None


def _prompt_of(line: str, where: str) -> str:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); "
            f'each line must be an object like {{"prompt": "..."}}'
        ) from None
    if not isinstance(data, dict) or "prompt" not in data:
        raise ConfigError(
            f'{where}: no "prompt" field; each line must be an object like {{"prompt": "..."}}'
        )
    prompt = data["prompt"]
    if not isinstance(prompt, str) or not prompt:
        raise ConfigError(
            f'{where}: "prompt" must be a non-empty string, got {type(prompt).__name__}'
        )
    problem = surrogate_problem(prompt)
    if problem:
        raise ConfigError(f"{where}: the prompt: {problem}")
    return prompt
