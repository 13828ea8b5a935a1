"""A fake ``tensorrt_llm`` for CPU tests: the LLM API surface llem uses, no GPU.

Put ``tests/fakes`` first on ``sys.path`` / ``PYTHONPATH``. Checked against the
TensorRT-LLM sources (tensorrt_llm/llmapi/llm.py, llm_args.py, sampling_params.py,
executor/result.py, _tensorrt_engine/__init__.py):

- ``tensorrt_llm.LLM`` is the PyTorch flow (``_TorchLLM``); the TensorRT engine flow is
  ``tensorrt_llm._tensorrt_engine.LLM`` (``_TrtLLM``), which builds an engine (or loads
  one from a directory whose config.json has ``build_config``) and can ``save`` it.
- Keyword arguments the args class does not know are a ValueError ("LLM got invalid
  argument: x"); TensorRT-only arguments (``build_config``...) in the PyTorch flow are a
  ValueError too. ``SamplingParams`` is a kw-only dataclass: unknown names are TypeErrors.
- Without a tokenizer, ``SamplingParams.end_id`` must be given (ValueError otherwise).
- With ``return_perf_metrics=True`` each ``CompletionOutput.request_perf_metrics`` has
  ``timing_metrics.{arrival_time, first_scheduled_time, first_token_time,
  last_token_time}`` as ``datetime.timedelta`` on the C++ steady clock (CLOCK_MONOTONIC
  on Linux); ``tensorrt_llm.bindings.steady_clock_now()`` reads that clock.

Speeds and simulated GPU memory: ``tensorrt_llm._llem_fake``.
"""

from tensorrt_llm.builder import BuildConfig
from tensorrt_llm.llmapi import LLM, KvCacheConfig, QuantAlgo, QuantConfig
from tensorrt_llm.sampling_params import SamplingParams
from tensorrt_llm.version import __version__

__all__ = [
    "LLM",
    "BuildConfig",
    "KvCacheConfig",
    "QuantAlgo",
    "QuantConfig",
    "SamplingParams",
    "__version__",
]
