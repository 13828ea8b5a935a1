"""Where vLLM gets the model from: a built-in architecture, a local directory, or the hub.

``weights: random`` becomes vLLM's ``load_format="dummy"``: vLLM builds the model from
``config.json`` and fills it with random values, so no weights are downloaded. A built-in
id (``builtin:llama-3.2-1b``) has an architecture but no weights and no tokenizer: the
core's architecture toolkit writes it as a config-only checkpoint into a temporary
directory, and the prompts go in as token ids (``skip_tokenizer_init``).
"""

from __future__ import annotations

from llem.plugin import Problem, architectures

ModelSource = architectures.ModelSource


def model_problems(model_id: str, weights: str) -> list[Problem]:
    """Cheap checks for preflight: nothing is written, nothing is downloaded."""
    problems = architectures.model_problems(model_id, weights, "vLLM's dummy load format")
    if problems or architectures.model_kind(model_id) != "builtin":
        return problems
    arch = architectures.load_architecture(model_id) or {}
    if not arch.get("architectures"):
        return [
            Problem(
                f"{model_id} has no `architectures` entry, so vLLM cannot pick a model class",
                "add it to the built-in JSON",
            )
        ]
    return []


def resolve_model(model_id: str) -> ModelSource:
    """The ModelSource for ``model_id``; writes a temp dir for built-in architectures."""
    return architectures.engine_source(model_id, "llem-vllm-model-")
