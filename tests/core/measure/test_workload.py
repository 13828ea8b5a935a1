from __future__ import annotations

import importlib.util
import sys
import types

import pytest
from llem.config.schema import DatasetConfig, GenerationConfig
from llem.errors import ConfigError, PreflightError
from llem.measure import workload
from llem.measure.workload import build_requests, build_workload

GEN = GenerationConfig(max_new_tokens=7)


def test_synthetic_prompts_are_seeded_fixed_length_and_below_the_vocabulary():
    ds = DatasetConfig(num_prompts=5, input_len=12, seed=3)
    a = build_requests(ds, GEN, vocab_size=50)
    assert a == build_requests(ds, GEN, vocab_size=50)
    assert a != build_requests(DatasetConfig(num_prompts=5, input_len=12, seed=4), GEN, 50)
    assert [len(r.input_ids) for r in a] == [12] * 5
    assert all(0 <= t < 50 for r in a for t in r.input_ids)
    assert [r.id for r in a] == list(range(5)) and all(r.max_new_tokens == 7 for r in a)
    assert all(r.prompt is None for r in a)


def test_synthetic_length_spread_is_uniform_within_bounds():
    ds = DatasetConfig(num_prompts=200, input_len_min=4, input_len_max=9)
    lengths = {len(r.input_ids) for r in build_requests(ds, GEN, vocab_size=100)}
    assert lengths == set(range(4, 10))


def test_synthetic_without_vocab_size_says_which_component_to_fix():
    with pytest.raises(PreflightError, match="vocab_size"):
        build_requests(DatasetConfig(), GEN, vocab_size=None)


def test_jsonl_takes_the_first_num_prompts(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(f'{{"prompt": "p{i}", "other": 1}}' for i in range(5)) + "\n\n")
    requests, notes = build_workload(
        DatasetConfig(source="jsonl", path=str(path), num_prompts=3), GEN, None
    )
    assert [r.prompt for r in requests] == ["p0", "p1", "p2"] and notes == []
    assert all(r.input_ids is None for r in requests)


def test_jsonl_with_fewer_prompts_uses_them_and_says_so(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text('{"prompt": "a"}\n{"prompt": "b"}\n')
    requests, notes = build_workload(
        DatasetConfig(source="jsonl", path=str(path), num_prompts=10), GEN, None
    )
    assert len(requests) == 2
    assert notes[0].code == "fewer_prompts" and "2 prompt(s)" in notes[0].message


@pytest.mark.parametrize(
    "line, message",
    [
        ("{not json", "not valid JSON"),
        ('{"text": "x"}', 'no "prompt" field'),
        ('{"prompt": 3}', '"prompt" must be a non-empty string'),
        ('["prompt"]', 'no "prompt" field'),
    ],
)
def test_bad_jsonl_lines_are_reported_with_file_and_line(tmp_path, line, message):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "ok"}\n\n' + line + "\n")
    with pytest.raises(ConfigError, match=f"bad.jsonl:3: {message}"):
        build_requests(DatasetConfig(source="jsonl", path=str(path)), GEN, None)


def test_missing_and_empty_jsonl_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        build_requests(DatasetConfig(source="jsonl", path=str(tmp_path / "x")), GEN, None)
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(ConfigError, match="no prompts"):
        build_requests(DatasetConfig(source="jsonl", path=str(tmp_path / "e.jsonl")), GEN, None)


def test_aienergyscore_without_datasets_names_the_package(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "datasets" else real(name, *a)
    )
    with pytest.raises(PreflightError, match="pip install datasets"):
        build_requests(DatasetConfig(source="aienergyscore"), GEN, None)


class _Rows(list):
    column_names = ["text", "id"]


def _fake_datasets(monkeypatch, load):  # type: ignore[no-untyped-def]
    module = types.ModuleType("datasets")
    module.load_dataset = load
    monkeypatch.setitem(sys.modules, "datasets", module)
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: object() if name == "datasets" else real(name, *a),
    )


def test_aienergyscore_prompts_come_from_the_hub_dataset(monkeypatch):
    asked = []

    def load(name, split):  # type: ignore[no-untyped-def]
        asked.append((name, split))
        return _Rows({"text": f"t{i}", "id": i} for i in range(10))

    _fake_datasets(monkeypatch, load)
    requests = build_requests(DatasetConfig(source="aienergyscore", num_prompts=4), GEN, None)
    assert asked == [(workload.AIENERGYSCORE_ID, "train")]
    assert [r.prompt for r in requests] == ["t0", "t1", "t2", "t3"]


def test_aienergyscore_unreachable_hub_is_a_clear_error(monkeypatch):
    def load(name, split):  # type: ignore[no-untyped-def]
        raise ConnectionError("no route to huggingface.co")

    _fake_datasets(monkeypatch, load)
    with pytest.raises(PreflightError, match="could not be loaded.*reachable"):
        build_requests(DatasetConfig(source="aienergyscore"), GEN, None)


def test_output_lengths_are_drawn_per_request_and_prompts_stay_the_same():
    from llem.measure.workload import build_workload as build

    base = DatasetConfig(num_prompts=50, input_len=8)
    drawn = DatasetConfig(
        num_prompts=50, input_len=8, output_dist="uniform", output_len=20,
        output_len_min=5, output_len_max=30,
    )  # fmt: skip
    gen = GenerationConfig(max_new_tokens=16)
    fixed, _ = build(base, gen, 100)
    varied, _ = build(drawn, gen, 100)
    assert [r.input_ids for r in fixed] == [r.input_ids for r in varied]
    assert {r.max_new_tokens for r in fixed} == {16}
    lengths = [r.max_new_tokens for r in varied]
    assert min(lengths) >= 5 and max(lengths) <= 30 and len(set(lengths)) > 5
    assert lengths == [r.max_new_tokens for r in build(drawn, gen, 100)[0]]


def test_lognormal_input_lengths_have_their_median_and_stay_within_the_clip():
    import random
    import statistics

    from llem.measure.workload import input_length

    d = DatasetConfig(
        input_dist="lognormal", input_len=200, input_sigma=0.8, input_len_min=10,
        input_len_max=2000,
    )  # fmt: skip
    rng = random.Random(0)
    lengths = [input_length(d, rng) for _ in range(4000)]
    assert statistics.median(lengths) == pytest.approx(200, rel=0.08)
    assert min(lengths) >= 10 and max(lengths) <= 2000


def test_an_output_distribution_without_its_lengths_is_rejected():
    with pytest.raises(ValueError, match="needs dataset.output_len"):
        DatasetConfig(output_dist="lognormal")
    with pytest.raises(ValueError, match="output_len_min and output_len_max"):
        DatasetConfig(output_dist="uniform", output_len=10)
