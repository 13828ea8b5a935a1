"""Make vLLM use exactly the GPUs llem measures.

vLLM places tensor/pipeline-parallel rank i on CUDA device i of the process that runs it
(its engine core and workers are child processes started after ``LLM()`` is called), so
the backend narrows CUDA_VISIBLE_DEVICES with core's ``VisibleDevices`` before ``LLM()``
and puts it back in ``close``. vLLM's one twist: it may run the model in this process.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from llem import plugin
from llem.plugin import Device, PreflightError


class VisibleDevices(plugin.VisibleDevices):
    """Core's narrowing, refused where it cannot take effect (see below)."""

    def apply(self, devices: Sequence[Device]) -> None:
        if plugin.visible_devices_for(devices, self.environ) is not None:
            _refuse_if_in_process_cuda(self.environ)
        super().apply(devices)


def _refuse_if_in_process_cuda(environ: Mapping[str, str]) -> None:
    """With VLLM_ENABLE_V1_MULTIPROCESSING=0 the model runs in this process, where CUDA
    may already be initialised with the old device list; then narrowing cannot work."""
    if environ.get("VLLM_ENABLE_V1_MULTIPROCESSING", "1") != "0":
        return
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        raise PreflightError(
            "vLLM runs in-process (VLLM_ENABLE_V1_MULTIPROCESSING=0) and CUDA is already "
            "initialised, so it cannot be moved onto `devices`; list the GPUs first in "
            "CUDA_VISIBLE_DEVICES or unset VLLM_ENABLE_V1_MULTIPROCESSING"
        )
