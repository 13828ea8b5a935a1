"""generate(): records, timing, fixed-length generation, batching and padding."""

from __future__ import annotations

import random
import time

import pytest
import torch
from llem.config.schema import GenerationConfig
from llem.errors import PreflightError
from llem.interfaces import Request
from llem_pytorch.backend import TIMING_SOURCE


def _requests(n: int, *, lengths=(16,), max_new: int = 8, seed: int = 0) -> list[Request]:
    rng = random.Random(seed)
    return [
        Request(
            id=100 + i,
            prompt=None,
            max_new_tokens=max_new,
            input_ids=tuple(rng.randrange(3, 512) for _ in range(rng.choice(lengths))),
        )
        for i in range(n)
    ]


def test_load_sets_vocab_size_and_parameter_count(tiny) -> None:
    assert tiny.vocab_size == 512
    assert 1_000_000 < tiny.num_parameters < 10_000_000
    assert tiny.device.type == "cpu" and tiny.tokenizer is not None


def test_one_record_per_request_in_order_with_monotonic_times(tiny) -> None:
    requests = _requests(6, lengths=(5, 16, 9))
    before = time.perf_counter_ns()
    records = tiny.generate(requests, GenerationConfig(max_new_tokens=8))
    after = time.perf_counter_ns()
    assert [r.request_id for r in records] == [r.id for r in requests]
    for request, record in zip(requests, records, strict=True):
        assert record.input_tokens == len(request.input_ids)
        assert record.timing_source == TIMING_SOURCE
        assert before <= record.t_submit_ns < record.t_first_token_ns <= record.t_end_ns <= after
        times = record.token_times_ns
        assert len(times) == record.output_tokens
        assert times[0] == record.t_first_token_ns and times[-1] == record.t_end_ns
        assert all(a < b for a, b in zip(times, times[1:], strict=False))
    # batch_size 4: the first four share a submit time, the next batch starts later
    assert len({r.t_submit_ns for r in records[:4]}) == 1
    assert records[4].t_submit_ns >= records[3].t_end_ns


@pytest.mark.parametrize("max_new", [1, 5, 13])
def test_fixed_length_generation_gives_exact_output_counts(tiny, max_new: int) -> None:
    records = tiny.generate(_requests(5, max_new=max_new), GenerationConfig(max_new_tokens=max_new))
    assert [r.output_tokens for r in records] == [max_new] * 5
    assert all(len(tiny.outputs[r.request_id]) == max_new for r in records)


def _eos_always(backend):
    eos = backend.eos_ids[0]
    return backend.model.lm_head.register_forward_hook(
        lambda _m, _i, out: out.index_fill(-1, torch.tensor([eos], device=out.device), 1e4)
    )


@pytest.mark.parametrize(
    ("gen", "expected"),
    [
        (GenerationConfig(max_new_tokens=6), 6),  # ignore_eos
        (GenerationConfig(max_new_tokens=6, min_new_tokens=0), 6),  # still ignored
        (GenerationConfig(max_new_tokens=6, ignore_eos=False), 6),  # min = max
        (GenerationConfig(max_new_tokens=6, min_new_tokens=2, ignore_eos=False), 3),
        (GenerationConfig(max_new_tokens=6, min_new_tokens=0, ignore_eos=False), 1),
    ],
)
def test_end_tokens_are_ignored_or_end_a_row_counting_the_end_token(tiny, gen, expected) -> None:
    hook = _eos_always(tiny)
    try:
        records = tiny.generate(_requests(3, max_new=6), gen)
    finally:
        hook.remove()
    assert [r.output_tokens for r in records] == [expected] * 3
    assert [len(r.token_times_ns) for r in records] == [expected] * 3


def test_same_greedy_outputs_whatever_the_batch_size_with_left_padding(make_backend) -> None:
    requests = _requests(7, lengths=(3, 8, 20), max_new=12, seed=3)
    outputs = {}
    for batch_size in (1, 3, 7):
        backend = make_backend(batch_size)
        backend.generate(requests, GenerationConfig(max_new_tokens=12))
        outputs[batch_size] = dict(backend.outputs)
    assert outputs[3] == outputs[1] and outputs[7] == outputs[1]
    assert len({outputs[1][r.id] for r in requests}) > 1  # not a degenerate constant model


def test_left_padding_puts_prompts_at_the_end_with_a_mask(tiny) -> None:
    ids, mask = tiny._pad([[5, 6, 7], [8]])
    assert ids.tolist() == [[5, 6, 7], [tiny.pad_id, tiny.pad_id, 8]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]


def test_text_prompts_are_tokenized_with_the_shipped_tokenizer(tiny) -> None:
    prompts = ["Hello world", "How much energy does one output token cost on an H100?"]
    requests = [
        Request(id=i, prompt=p, input_ids=None, max_new_tokens=4) for i, p in enumerate(prompts)
    ]
    records = tiny.generate(requests, GenerationConfig(max_new_tokens=4))
    expected = [len(tiny.tokenizer(p)["input_ids"]) for p in prompts]
    assert [r.input_tokens for r in records] == expected
    assert [r.output_tokens for r in records] == [4, 4]


def test_text_prompts_without_a_tokenizer_fail_with_the_reason(tiny) -> None:
    tokenizer, tiny.tokenizer = tiny.tokenizer, None
    tiny.no_tokenizer_reason = "builtin:llama-3.2-1b ships no tokenizer"
    try:
        with pytest.raises(PreflightError, match="need a tokenizer.*ships no tokenizer"):
            tiny.generate([Request(0, "hi", None, 2)], GenerationConfig(max_new_tokens=2))
        # token ids still work
        assert tiny.generate(_requests(1, max_new=2), GenerationConfig(max_new_tokens=2))
    finally:
        tiny.tokenizer = tokenizer


def test_sampling_is_seeded(tiny) -> None:
    requests = _requests(4, max_new=10)
    gen = GenerationConfig(max_new_tokens=10, do_sample=True, temperature=2.0, seed=7)
    tiny.generate(requests, gen)
    first = dict(tiny.outputs)
    tiny.generate(requests, gen)
    assert tiny.outputs == first
    greedy = GenerationConfig(max_new_tokens=10)
    tiny.generate(requests, greedy)
    assert tiny.outputs != first


def test_model_generation_defaults_cannot_turn_sampling_back_on(tiny) -> None:
    from transformers import GenerationConfig as HfGenerationConfig

    requests = _requests(3, max_new=8)
    tiny.generate(requests, GenerationConfig(max_new_tokens=8))
    greedy = dict(tiny.outputs)
    saved = tiny.model.generation_config
    tiny.model.generation_config = HfGenerationConfig(do_sample=True, temperature=5.0, top_k=0)
    try:
        tiny._neutral_generation_defaults()
        tiny.generate(requests, GenerationConfig(max_new_tokens=8))
    finally:
        tiny.model.generation_config = saved
    assert tiny.outputs == greedy


def test_close_releases_the_model(make_backend) -> None:
    backend = make_backend()
    backend.close()
    assert backend.model is None and backend.tokenizer is None
    with pytest.raises(RuntimeError, match="before load"):
        backend.generate(_requests(1), GenerationConfig(max_new_tokens=1))


def test_on_the_cpu_close_frees_the_model_without_a_garbage_collection(make_backend) -> None:
    import gc
    import weakref

    backend = make_backend(batch_size=2)
    backend.generate(_requests(3, max_new=4), GenerationConfig(max_new_tokens=4))
    model, parameter = weakref.ref(backend.model), weakref.ref(next(backend.model.parameters()))
    collections: list[dict] = []

    def seen(phase: str, info: dict) -> None:
        collections.append(info)

    gc.disable()  # no automatic collection: reference counting must free the model
    gc.callbacks.append(seen)
    try:
        backend.close()
    finally:
        gc.callbacks.remove(seen)
        gc.enable()
    assert model() is None and parameter() is None
    assert collections == []  # a full collection costs ~0.3 s with torch loaded


def test_pretrained_weights_from_a_local_directory_give_the_same_outputs(
    tiny, make_cfg, tmp_path
) -> None:
    from llem_pytorch.backend import PytorchBackend
    from llem_pytorch.config import PytorchConfig

    tiny.model.save_pretrained(tmp_path)
    tiny.tokenizer.save_pretrained(tmp_path)
    requests = _requests(3, max_new=6)
    tiny.generate(requests, GenerationConfig(max_new_tokens=6))
    backend = PytorchBackend(PytorchConfig(batch_size=2, cpu_threads=1))
    cfg = make_cfg(model=str(tmp_path), weights="pretrained")
    assert backend.preflight(cfg) == []
    backend.load(cfg, [])
    backend.keep_outputs = True
    try:
        assert backend.num_parameters == tiny.num_parameters
        assert backend.tokenizer is not None
        backend.generate(requests, GenerationConfig(max_new_tokens=6))
        assert backend.outputs == {r.id: tiny.outputs[r.id] for r in requests}
    finally:
        backend.close()


def test_a_hub_model_that_cannot_be_reached_fails_with_the_fix(make_cfg) -> None:
    from llem_pytorch.backend import PytorchBackend
    from llem_pytorch.config import PytorchConfig

    # local_files_only: the hub is never asked, as on a machine without network
    backend = PytorchBackend(PytorchConfig(from_pretrained_kwargs={"local_files_only": True}))
    with pytest.raises(PreflightError, match="could not be loaded.*make the Hugging Face hub"):
        backend.load(make_cfg(model="llem-tests/no-such-model-anywhere", weights="random"), [])


def test_section_extra_is_forwarded_to_every_generate_call(make_backend) -> None:
    requests = _requests(3, lengths=(8,), max_new=16, seed=5)
    plain = make_backend(3)
    plain.generate(requests, GenerationConfig(max_new_tokens=16))
    assert any(len(set(row)) < len(row) for row in plain.outputs.values())  # greedy repeats
    banned = make_backend(3, extra={"no_repeat_ngram_size": 1})
    assert banned._generation_config(GenerationConfig(), 4).no_repeat_ngram_size == 1
    banned.generate(requests, GenerationConfig(max_new_tokens=16))
    assert all(len(set(row)) == len(row) for row in banned.outputs.values())
