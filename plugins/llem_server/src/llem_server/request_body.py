"""What one request sends: the prompt in the form the server takes, and the fields that
set its output length and sampling."""

from __future__ import annotations

from typing import Any

from llem.plugin import GenerationConfig, PreflightError, Request

from llem_server.recipes import Recipe


def prompt(request: Request, recipe: Recipe, api: str, gguf_vocab: int | None) -> str | list[int]:
    """Token ids where the server takes them (completions API), text of llem's GGUF
    vocabulary for llama.cpp with random weights, else the request's text."""
    if request.input_ids is not None:
        if recipe.token_prompts and api == "completions":
            return list(request.input_ids)
        if gguf_vocab is not None:
            from llem_server.gguf_model import text_for

            return text_for(request.input_ids, gguf_vocab)
        if request.prompt is None:
            raise PreflightError(
                f"request {request.id} has token ids only, and launch: {recipe.name} with "
                f"api: {api} takes text; use a text dataset"
            )
    assert request.prompt is not None
    return request.prompt


def fields(
    request: Request, gen: GenerationConfig, recipe: Recipe, gguf_vocab: int | None
) -> dict[str, Any]:
    """max_tokens (pinned, with fixed-length generation, the recipe's way), sampling."""
    fixed = gen.ignore_eos or (gen.min_new_tokens or 0) >= request.max_new_tokens
    body = recipe.request_fields(request.max_new_tokens, fixed)
    if gen.min_new_tokens is not None and not fixed:
        body["min_tokens"] = gen.min_new_tokens
    if gen.do_sample:
        body.update(temperature=gen.temperature, top_p=gen.top_p, seed=gen.seed)
    else:
        body["temperature"] = 0.0
    if gguf_vocab is not None and recipe.name == "llamacpp":
        body["logit_bias"] = {"0": -100.0, "1": -100.0}  # never <unk>/<s>: empty text
    return body
