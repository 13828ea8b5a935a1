"""StepRecorder: per-step token counts from vLLM's stat-logger calls."""

from __future__ import annotations

from types import SimpleNamespace

from llem_vllm.steps import SOURCE_DETAILS, SOURCE_ITERATION, StepRecorder, attach_offline


def details(ctx: int, gen: int, dummy: bool = False) -> SimpleNamespace:
    it = SimpleNamespace(num_ctx_tokens=ctx, num_generation_tokens=gen, is_dummy=dummy)
    return SimpleNamespace(iteration_details=it)


def test_iteration_details_give_the_scheduled_prompt_and_generated_tokens():
    rec = StepRecorder()
    rec.record(details(512, 3), None)
    rec.record(details(0, 64), SimpleNamespace(num_generation_tokens=999))
    steps = rec.drain()
    assert [(s.prefill_tokens, s.decode_tokens) for s in steps] == [(512, 3), (0, 64)]
    assert steps[0].t_end_ns <= steps[1].t_end_ns and rec.source == SOURCE_DETAILS
    assert rec.drain() == []


def test_without_details_iteration_stats_count_computed_prompt_tokens():
    rec = StepRecorder()
    prompt = SimpleNamespace(computed=200, total=256)  # 56 came from the prefix cache
    rec.record(
        SimpleNamespace(iteration_details=None),
        SimpleNamespace(prompt_token_stats=prompt, num_generation_tokens=4, num_prompt_tokens=256),
    )
    (step,) = rec.drain()
    assert (step.prefill_tokens, step.decode_tokens) == (200, 4)
    assert rec.source == SOURCE_ITERATION


def test_dummy_empty_and_statless_steps_are_not_steps():
    rec = StepRecorder()
    rec.record(details(0, 0), None)
    rec.record(details(8, 8, dummy=True), None)
    rec.record(None, None)
    assert rec.drain() == []


def test_the_recorder_is_its_own_stat_logger_factory():
    rec = StepRecorder()
    assert rec.factory(object(), 0) is rec


def test_attach_offline_needs_an_engine_that_keeps_stats():
    rec = StepRecorder()
    loggers: list = []
    llm = SimpleNamespace(
        llm_engine=SimpleNamespace(logger_manager=SimpleNamespace(stat_loggers=loggers))
    )
    assert attach_offline(llm, rec) and loggers == [rec]
    assert not attach_offline(SimpleNamespace(llm_engine=SimpleNamespace(logger_manager=None)), rec)
