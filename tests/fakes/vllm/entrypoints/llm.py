"""The offline ``LLM`` class, shaped like vllm/entrypoints/llm.py (V1 engine)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from vllm.engine.arg_utils import EngineArgs
from vllm.outputs import RequestOutput
from vllm.sampling_params import RequestOutputKind, SamplingParams
from vllm.v1.engine.llm_engine import LLMEngine


class LLM:
    def __init__(
        self,
        model: str,
        *,
        runner: str = "auto",
        convert: str = "auto",
        tokenizer: str | None = None,
        tokenizer_mode: str = "auto",
        skip_tokenizer_init: bool = False,
        trust_remote_code: bool = False,
        allowed_local_media_path: str = "",
        allowed_media_domains: list[str] | None = None,
        tensor_parallel_size: int = 1,
        dtype: str = "auto",
        quantization: str | None = None,
        revision: str | None = None,
        tokenizer_revision: str | None = None,
        seed: int = 0,
        gpu_memory_utilization: float = 0.9,
        swap_space: float = 4,
        cpu_offload_gb: float = 0,
        enforce_eager: bool = False,
        enable_return_routed_experts: bool = False,
        disable_custom_all_reduce: bool = False,
        hf_token: bool | str | None = None,
        hf_overrides: Any = None,
        mm_processor_kwargs: dict[str, Any] | None = None,
        pooler_config: Any = None,
        structured_outputs_config: Any = None,
        profiler_config: Any = None,
        attention_config: Any = None,
        kv_cache_memory_bytes: int | None = None,
        compilation_config: Any = None,
        logits_processors: list[Any] | None = None,
        **kwargs: Any,
    ) -> None:
        if "disable_log_stats" not in kwargs:
            kwargs["disable_log_stats"] = True
        engine_args = EngineArgs(
            model=model,
            runner=runner,
            convert=convert,
            tokenizer=tokenizer,
            tokenizer_mode=tokenizer_mode,
            skip_tokenizer_init=skip_tokenizer_init,
            trust_remote_code=trust_remote_code,
            allowed_local_media_path=allowed_local_media_path,
            allowed_media_domains=allowed_media_domains,
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            quantization=quantization,
            revision=revision,
            tokenizer_revision=tokenizer_revision,
            seed=seed,
            gpu_memory_utilization=gpu_memory_utilization,
            kv_cache_memory_bytes=kv_cache_memory_bytes,
            swap_space=swap_space,
            cpu_offload_gb=cpu_offload_gb,
            enforce_eager=enforce_eager,
            enable_return_routed_experts=enable_return_routed_experts,
            disable_custom_all_reduce=disable_custom_all_reduce,
            hf_token=hf_token,
            hf_overrides=hf_overrides or {},
            mm_processor_kwargs=mm_processor_kwargs,
            pooler_config=pooler_config,
            structured_outputs_config=structured_outputs_config,
            profiler_config=profiler_config,
            attention_config=attention_config,
            compilation_config=compilation_config,
            logits_processors=logits_processors,
            **kwargs,
        )
        self.llm_engine = LLMEngine.from_engine_args(engine_args=engine_args)
        self.engine_class = type(self.llm_engine)
        self.request_counter = itertools.count()

    def get_tokenizer(self) -> Any:
        return self.llm_engine.get_tokenizer()

    def generate(
        self,
        prompts: Any,
        sampling_params: SamplingParams | Sequence[SamplingParams] | None = None,
        *,
        use_tqdm: bool | Callable[..., Any] = True,
        lora_request: Any = None,
        priority: list[int] | None = None,
        tokenization_kwargs: dict[str, Any] | None = None,
    ) -> list[RequestOutput]:
        """Add every prompt, run the engine until all finish, return outputs in the
        order of ``prompts``."""
        if sampling_params is None:
            sampling_params = SamplingParams()
        seq = [prompts] if isinstance(prompts, (str, dict)) else list(prompts)
        if isinstance(sampling_params, Sequence):
            if len(sampling_params) != len(seq):
                raise ValueError(
                    f"The lengths of prompts ({len(seq)}) and sampling_params "
                    f"({len(sampling_params)}) must be the same."
                )
            params = list(sampling_params)
        else:
            params = [sampling_params] * len(seq)
        for sp in params:
            sp.output_kind = RequestOutputKind.FINAL_ONLY  # only the final output
        for prompt, sp in zip(seq, params, strict=True):
            text, ids = self._parse_prompt(prompt)
            self.llm_engine.add_request(str(next(self.request_counter)), text, ids, sp)
        return self._run_engine()

    def _parse_prompt(self, prompt: Any) -> tuple[str | None, list[int]]:
        if isinstance(prompt, dict) and "prompt_token_ids" in prompt:
            return prompt.get("prompt"), list(prompt["prompt_token_ids"])
        text = prompt["prompt"] if isinstance(prompt, dict) else prompt
        if not isinstance(text, str):
            raise TypeError(f"Invalid prompt {prompt!r}: expected str, TextPrompt or TokensPrompt")
        if self.llm_engine.tokenizer is None:
            raise ValueError(
                "You cannot pass text prompts when `skip_tokenizer_init=True`. "
                "Pass token ids via TokensPrompt instead."
            )
        return text, self.llm_engine.tokenizer.encode(text)

    def _run_engine(self) -> list[RequestOutput]:
        outputs: list[RequestOutput] = []
        while self.llm_engine.has_unfinished_requests():
            for output in self.llm_engine.step():
                if output.finished:
                    outputs.append(output)
        return sorted(outputs, key=lambda x: int(x.request_id))
