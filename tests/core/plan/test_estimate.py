"""Dry-run estimates: parameter counts, KV cache, fit against the GPUs present."""

from __future__ import annotations

import attrs
import pytest
from llem.config.loader import loads
from llem.plan import estimate
from llem.plan.preview import Gpus, build_preview, fit

GiB = 1024**3


def test_the_estimate_uses_the_architecture_toolkits_count():
    arch = estimate.architecture("builtin:llama-3.2-1b")
    assert isinstance(arch, estimate.Architecture)
    assert arch.params == 1_235_814_400  # transformers' count of Llama-3.2-1B
    assert arch.shape.kv_heads == 8 and arch.shape.head_dim == 64


def test_unknown_architectures_are_unknown_not_guessed():
    assert isinstance(estimate.architecture("meta-llama/Llama-3.2-1B"), str)
    cfg = loads("model: some/hub-model\nbackend: alpha\n").experiments[0]
    mem = estimate.memory(cfg)
    assert mem.per_gpu_bytes is None and "not known offline" in (mem.note or "")
    assert estimate.run_time(cfg, 0).total_s is None


def test_memory_is_weights_plus_kv_cache():
    cfg = loads(
        "model: builtin:llama-3.1-8b\nbackend: alpha\nprecision: bf16\n"
        "alpha: {batch_size: 4}\ndataset: {input_len: 1000, num_prompts: 16}\n"
        "generation: {max_new_tokens: 24}\n"
    ).experiments[0]
    mem = estimate.memory(cfg)
    arch = estimate.architecture("builtin:llama-3.1-8b")
    assert mem.weights_bytes == arch.params * 2
    # 2 x 32 layers x 8 kv heads x 128 head_dim x 2 bytes x batch 4 x 1024 tokens
    assert mem.kv_bytes == 2 * 32 * 8 * 128 * 2 * 4 * 1024
    assert mem.per_gpu_bytes == mem.weights_bytes + mem.kv_bytes


def test_quantization_and_tensor_parallel():
    base = "model: builtin:llama-3.1-8b\nbackend: alpha\nalpha: {quantization: 4bit}\n"
    q = estimate.memory(loads(base).experiments[0])
    assert q.weights_bytes == estimate.architecture("builtin:llama-3.1-8b").params * 0.5
    tp = estimate.memory(loads(base + "devices: [0, 1]\n").experiments[0])
    assert tp.per_gpu_bytes == pytest.approx((tp.weights_bytes + tp.kv_bytes) / 2)
    odd = estimate.memory(loads(base.replace("4bit", "weird")).experiments[0])
    assert odd.per_gpu_bytes is None and "not modelled" in (odd.note or "")


def test_fit_against_gpus_present():
    cfg = loads("model: builtin:llama-3.1-8b\nbackend: alpha\nprecision: fp32\n").experiments[0]
    mem = estimate.memory(cfg)  # ~30 GiB of fp32 weights
    assert fit(cfg, mem, Gpus({0: 80 * GiB}, ("H100",))) == "fits"
    assert fit(cfg, mem, Gpus({0: 24 * GiB}, ("L4",))) == "WON'T FIT"
    assert fit(cfg, mem, Gpus({0: int(mem.per_gpu_bytes / 0.95)}, ("x",))) == "tight"
    assert fit(cfg, mem, Gpus({1: 80 * GiB}, ("x",))) == "GPU 0 absent"
    assert fit(cfg, mem, Gpus({}, (), "NVML Shared Library Not Found")) == "no GPU seen"
    assert fit(attrs.evolve(cfg, devices=()), mem, Gpus({0: GiB}, ("x",))) == "CPU"
    beta = loads(
        "model: builtin:llama-3.1-8b\nbackend: beta\nprecision: fp32\n"
        "beta: {gpu_memory_utilization: 0.3}\n"
    ).experiments[0]
    assert fit(beta, estimate.memory(beta), Gpus({0: 80 * GiB}, ("H100",))) == "WON'T FIT"


def test_time_estimate_counts_the_fixed_parts():
    study = loads(
        "model: builtin:tiny-llama\nbackend: alpha\nwarmup: {thermal_floor_s: 30}\n"
        "baseline: {duration_s: 20}\nexecution: {cycles: 2, config_gap_s: 5, "
        "cycle_gap_s: 7}\nsweep: {precision: [fp16, bf16]}\n"
    )
    preview = build_preview(study, Gpus({}, (), "none"))
    run = preview.rows[0].run
    assert run.fixed_s == 30 + estimate.LOAD_FIXED_S
    assert run.generation_s is not None and run.generation_s > 0
    runs = sum(r.run.total_s for r in preview.rows) * 2
    # interleaved, 2 configs x 2 cycles: 1 cycle gap, 2 config gaps, baseline once per hour
    assert preview.total_s == pytest.approx(runs + 7 + 2 * 5 + 20)
    assert not preview.total_is_lower_bound


def test_preview_of_unknown_model_gives_a_lower_bound():
    study = loads("model: hub/model\nbackend: alpha\n")
    preview = build_preview(study, Gpus({}, (), "none"))
    assert preview.total_is_lower_bound and preview.rows[0].memory.per_gpu_bytes is None
    assert attrs.has(type(preview))


@pytest.mark.parametrize("reuse", [True, False])
def test_experiments_on_a_kept_engine_are_estimated_without_a_load(reuse):
    study = loads(
        "model: builtin:llama-3.2-1b\nbackend: alpha\nwarmup: {thermal_floor_s: 0}\n"
        f"execution: {{reuse_engine: {str(reuse).lower()}}}\n"
        "sweep: {generation.max_new_tokens: [16, 32], precision: [fp16, bf16]}\n"
    )
    preview = build_preview(study, Gpus({}, (), "none"))
    loads_of = {
        (r.index, e.precision): r.run.fixed_s == estimate.LOAD_FIXED_S
        for r, e in zip(preview.rows, study.experiments, strict=True)
    }
    # one engine per precision: its first experiment loads it, the next reuses it
    assert sum(loads_of.values()) == (2 if reuse else 4)
    first = {p: min(i for i, q in loads_of if q == p) for p in ("fp16", "bf16")}
    assert all(loads_of[(first[p], p)] for p in first)
