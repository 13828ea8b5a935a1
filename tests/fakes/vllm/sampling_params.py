"""SamplingParams as in vllm/sampling_params.py (a msgspec Struct there: keyword
arguments it does not know are a TypeError; the checks below are vLLM's own)."""

from __future__ import annotations

import enum
from typing import Any

_SAMPLING_EPS = 1e-5


class RequestOutputKind(enum.Enum):
    CUMULATIVE = 0
    DELTA = 1
    FINAL_ONLY = 2


_DEFAULTS: dict[str, Any] = {
    "n": 1,
    "presence_penalty": 0.0,
    "frequency_penalty": 0.0,
    "repetition_penalty": 1.0,
    "temperature": 1.0,
    "top_p": 1.0,
    "top_k": 0,
    "min_p": 0.0,
    "seed": None,
    "stop": None,
    "stop_token_ids": None,
    "ignore_eos": False,
    "max_tokens": 16,
    "min_tokens": 0,
    "logprobs": None,
    "prompt_logprobs": None,
    "detokenize": True,
    "skip_special_tokens": True,
    "spaces_between_special_tokens": True,
    "include_stop_str_in_output": False,
    "truncate_prompt_tokens": None,
    "output_kind": RequestOutputKind.CUMULATIVE,
    "logit_bias": None,
    "allowed_token_ids": None,
    "extra_args": None,
    "bad_words": None,
    "structured_outputs": None,
    "skip_clone": False,
}


class SamplingParams:
    """Fields and validation of vLLM's SamplingParams that llem relies on."""

    __slots__ = tuple(_DEFAULTS)

    def __init__(self, **kwargs: Any) -> None:
        for key in kwargs:
            if key not in _DEFAULTS:
                raise TypeError(f"Unexpected keyword argument '{key}'")
        for key, default in _DEFAULTS.items():
            setattr(self, key, kwargs.get(key, default))
        self._verify_args()
        if self.temperature < _SAMPLING_EPS:  # greedy, as vLLM normalises it
            self.top_p = 1.0
            self.top_k = 0
            self.min_p = 0.0

    def _verify_args(self) -> None:
        if not isinstance(self.n, int) or self.n < 1:
            raise ValueError(f"n must be at least 1, got {self.n}.")
        if self.temperature < 0.0:
            raise ValueError(f"temperature must be non-negative, got {self.temperature}.")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}.")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise ValueError(f"max_tokens must be at least 1, got {self.max_tokens}.")
        if self.min_tokens < 0:
            raise ValueError(
                f"min_tokens must be greater than or equal to 0, got {self.min_tokens}."
            )
        if self.max_tokens is not None and self.min_tokens > self.max_tokens:
            raise ValueError(
                f"min_tokens must be less than or equal to max_tokens={self.max_tokens}, "
                f"got {self.min_tokens}."
            )
        if self.seed is not None and not isinstance(self.seed, int):
            raise ValueError(f"seed must be an int, got {self.seed!r}.")

    def clone(self) -> SamplingParams:
        return SamplingParams(**{k: getattr(self, k) for k in _DEFAULTS})

    def __repr__(self) -> str:
        shown = (
            "n",
            "temperature",
            "top_p",
            "seed",
            "ignore_eos",
            "max_tokens",
            "min_tokens",
            "detokenize",
        )
        return "SamplingParams(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in shown) + ")"
