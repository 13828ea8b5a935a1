"""The requests of an experiment, built from its dataset section.

- ``synthetic``: seeded random token ids below the model's vocabulary size, every prompt
  ``input_len`` tokens long or uniformly spread over [input_len_min, input_len_max]. The
  same seed gives the same prompts on every machine (Python's Mersenne Twister).
- ``jsonl``: one JSON object per line with a ``prompt`` string; the first
  ``num_prompts`` are used. A bad line is a ConfigError naming file:line (the reader is
  ``llem.config.inputs``', which checks the file when the config loads).
- ``aienergyscore``: the AIEnergyScore text-generation prompts through the ``datasets``
  library (hub id ``AIEnergyScore/text_generation``), when installed and reachable.

Fewer prompts than ``num_prompts`` are used as they are (never repeated, which would
let a prefix cache flatter the engine) and a WorkloadNote says so.
"""

from __future__ import annotations

import importlib.util
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from llem.config.inputs import read_jsonl_prompts
from llem.config.schema import DatasetConfig, GenerationConfig
from llem.errors import PreflightError
from llem.interfaces import Request

AIENERGYSCORE_ID = "AIEnergyScore/text_generation"
PROMPT_FIELDS = ("text", "prompt", "question", "input")


@attrs.frozen
class WorkloadNote:
    """Something about the workload a reader of the result must know."""

    code: str
    message: str
    fix: str


def build_requests(
    dataset: DatasetConfig, gen: GenerationConfig, vocab_size: int | None
) -> list[Request]:
    """The requests of ``dataset`` (see the module docstring); notes are dropped --
    use ``build_workload`` to keep them."""
    return build_workload(dataset, gen, vocab_size)[0]


def build_workload(
    dataset: DatasetConfig, gen: GenerationConfig, vocab_size: int | None
) -> tuple[list[Request], list[WorkloadNote]]:
    if dataset.source == "synthetic":
        return with_output_lengths(synthetic_requests(dataset, gen, vocab_size), dataset), []
    if dataset.source == "jsonl":
        prompts = read_jsonl_prompts(Path(str(dataset.path)), dataset.num_prompts)
        where = str(dataset.path)
    else:
        prompts = load_aienergyscore(dataset.num_prompts)
        where = AIENERGYSCORE_ID
    requests = with_output_lengths(
        [
            Request(id=i, prompt=p, input_ids=None, max_new_tokens=gen.max_new_tokens)
            for i, p in enumerate(prompts)
        ],
        dataset,
    )
    notes = []
    if len(prompts) < dataset.num_prompts:
        notes.append(
            WorkloadNote(
                "fewer_prompts",
                f"{where} has {len(prompts)} prompt(s), fewer than dataset.num_prompts="
                f"{dataset.num_prompts}; the experiment used the {len(prompts)} there are",
                f"add prompts to {where} or set dataset.num_prompts: {len(prompts)}",
            )
        )
    return requests, notes


def synthetic_requests(
    dataset: DatasetConfig, gen: GenerationConfig, vocab_size: int | None
) -> list[Request]:
    if not vocab_size or vocab_size < 2:
        raise PreflightError(
            "synthetic prompts need the model's vocabulary size, but the backend did not "
            "set vocab_size in load(); fix the backend, or use dataset.source: jsonl"
        )
    rng = random.Random(dataset.seed)
    requests = []
    for i in range(dataset.num_prompts):
        length = input_length(dataset, rng)
        ids = tuple(rng.randrange(vocab_size) for _ in range(length))
        requests.append(
            Request(id=i, prompt=None, input_ids=ids, max_new_tokens=gen.max_new_tokens)
        )
    return requests


def input_length(dataset: DatasetConfig, rng: random.Random) -> int:
    """One synthetic prompt length: ``input_dist`` fixed (input_len), uniform over
    [input_len_min, input_len_max], or lognormal (median input_len, ``input_sigma``,
    clipped to min/max where set). None: uniform when min/max are set, else fixed."""
    low, high = dataset.input_len_min, dataset.input_len_max
    kind = dataset.input_dist or ("uniform" if low is not None else "fixed")
    return draw_length(kind, dataset.input_len, low, high, dataset.input_sigma, rng)


def with_output_lengths(requests: list[Request], dataset: DatasetConfig) -> list[Request]:
    """``requests`` with per-request ``max_new_tokens`` drawn from ``output_dist`` when
    ``dataset.output_len`` is set (its own seeded stream: prompts stay the same)."""
    median = dataset.output_len
    if median is None:
        return requests
    rng = random.Random(f"output-{dataset.seed}")
    d = dataset
    return [
        attrs.evolve(
            r,
            max_new_tokens=draw_length(
                d.output_dist,
                median,
                d.output_len_min,
                d.output_len_max,
                d.output_sigma,
                rng,
            ),
        )
        for r in requests
    ]


def draw_length(
    kind: str, median: int, low: int | None, high: int | None, sigma: float, rng: random.Random
) -> int:
    """A token length: fixed ``median``, uniform over [low, high], or lognormal around
    ``median`` with ``sigma``, rounded and clipped to [low or 1, high]."""
    if kind == "fixed":
        return median
    if kind == "uniform":
        return rng.randint(int(low or 1), int(high or median))
    value = round(median * rng.lognormvariate(0.0, sigma))
    return max(low or 1, min(value, high) if high is not None else value)


def load_aienergyscore(limit: int) -> list[str]:
    """The first ``limit`` AIEnergyScore text-generation prompts."""
    if importlib.util.find_spec("datasets") is None:
        raise PreflightError(
            "dataset.source aienergyscore needs the `datasets` package, which is not "
            "installed. Fix: pip install datasets (or use dataset.source: synthetic|jsonl)"
        )
    import datasets

    try:
        data = datasets.load_dataset(AIENERGYSCORE_ID, split="train")
    except Exception as exc:
        raise PreflightError(
            f"the AIEnergyScore prompts ({AIENERGYSCORE_ID}) could not be loaded: "
            f"{type(exc).__name__}: {str(exc)[:300]}. Fix: make the Hugging Face hub "
            f"reachable (or set HF_DATASETS_OFFLINE=1 with the dataset in the local "
            f"cache), or use dataset.source: jsonl with the prompts saved to a file"
        ) from None
    return _prompts_of_table(data, limit)


def _prompts_of_table(rows: Any, limit: int) -> list[str]:
    columns: Sequence[str] = list(getattr(rows, "column_names", []) or [])
    field = next((f for f in PROMPT_FIELDS if f in columns), None)
    if field is None:
        raise PreflightError(
            f"{AIENERGYSCORE_ID} has no prompt column (looked for "
            f"{', '.join(PROMPT_FIELDS)}; it has {', '.join(columns)}); "
            f"save the prompts to a JSONL file and use dataset.source: jsonl"
        )
    out: list[str] = []
    for row in rows:
        if len(out) >= limit:
            break
        value = row[field]
        if isinstance(value, str) and value:
            out.append(value)
    return out
