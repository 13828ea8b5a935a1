"""The quantization method names vLLM accepts (vllm/model_executor/layers/quantization)."""

from typing import Literal, get_args

QuantizationMethods = Literal[
    "awq",
    "fp8",
    "fbgemm_fp8",
    "modelopt",
    "modelopt_fp4",
    "gguf",
    "gptq_marlin",
    "awq_marlin",
    "gptq",
    "compressed-tensors",
    "bitsandbytes",
    "experts_int8",
    "quark",
    "moe_wna16",
    "torchao",
    "inc",
    "mxfp4",
    "fp8_per_tensor",
    "fp8_per_block",
    "mxfp8",
]
QUANTIZATION_METHODS: list[str] = list(get_args(QuantizationMethods))
