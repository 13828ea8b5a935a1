"""llem's config becomes vLLM's LLM(...) and SamplingParams(...) arguments."""

from __future__ import annotations

from llem.config.schema import ExperimentConfig, GenerationConfig
from llem.interfaces import Request
from llem_vllm.config import VllmConfig
from llem_vllm.engine_args import llm_kwargs, prompt_for, sampling_kwargs
from llem_vllm.model_source import ModelSource

SOURCE = ModelSource("/tmp/m", {"vocab_size": 10}, has_tokenizer=False)


def test_random_weights_use_the_dummy_load_format_and_precision_sets_dtype():
    cfg = ExperimentConfig(model="builtin:tiny-llama", weights="random", precision="fp16")
    kw = llm_kwargs(VllmConfig(), cfg, SOURCE)
    assert kw["load_format"] == "dummy"
    assert kw["dtype"] == "float16"
    assert kw["skip_tokenizer_init"] is True
    assert kw["disable_log_stats"] is False  # request metrics on
    for unset in ("max_num_seqs", "block_size", "quantization", "max_model_len"):
        assert unset not in kw  # vLLM's own defaults stay


def test_section_values_and_extra_reach_llm():
    section = VllmConfig(
        tensor_parallel_size=2,
        max_num_seqs=64,
        dtype="bfloat16",
        block_size=32,
        enable_prefix_caching=False,
        extra={"compilation_config": 3},
    )
    cfg = ExperimentConfig(model="/m", weights="pretrained", precision="fp32", devices=(0, 1))
    kw = llm_kwargs(section, cfg, ModelSource("/m", None, has_tokenizer=True))
    assert kw["load_format"] == "auto" and kw["skip_tokenizer_init"] is False
    assert kw["dtype"] == "bfloat16"  # the section wins over precision
    assert (kw["tensor_parallel_size"], kw["max_num_seqs"], kw["block_size"]) == (2, 64, 32)
    assert kw["enable_prefix_caching"] is False
    assert kw["compilation_config"] == 3


def test_generation_is_fixed_length_and_greedy_by_default():
    req = Request(id=3, prompt=None, input_ids=(1, 2), max_new_tokens=32)
    kw = sampling_kwargs(req, GenerationConfig(max_new_tokens=32), detokenize=False)
    assert kw == {
        "max_tokens": 32,
        "min_tokens": 32,
        "ignore_eos": True,
        "detokenize": False,
        "temperature": 0.0,
    }


def test_sampling_uses_a_per_request_seed_and_min_new_tokens():
    req = Request(id=3, prompt=None, input_ids=(1,), max_new_tokens=16)
    gen = GenerationConfig(
        max_new_tokens=16,
        min_new_tokens=4,
        do_sample=True,
        temperature=0.7,
        top_p=0.9,
        seed=10,
        ignore_eos=False,
    )
    kw = sampling_kwargs(req, gen, detokenize=True)
    assert kw["min_tokens"] == 4 and kw["seed"] == 13 and kw["temperature"] == 0.7
    assert kw["top_p"] == 0.9 and kw["ignore_eos"] is False


def test_prompts_are_token_ids_when_the_request_has_them():
    assert prompt_for(Request(0, None, (5, 6), 1)) == {"prompt_token_ids": [5, 6]}
    assert prompt_for(Request(0, "hi", None, 1)) == {"prompt": "hi"}
