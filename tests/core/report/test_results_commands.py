"""``llem results list|show|compare|export`` on the fixture studies."""

from __future__ import annotations

import json
import shutil

import attrs
import pytest
from click.testing import CliRunner
from llem.cli import cli
from llem.report.compare import compare, overlap
from llem.report.listing import list_studies
from llem.report.study import load_study
from llem.results.schema import MetricSummary

from tests.core.report.conftest import CYCLES, OFFLINE_GRID, SERVING_GRID


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), env={"COLUMNS": "300"})


def test_list_finds_every_run_directory_with_status_and_counts(offline_run, serving_run, tmp_path):  # type: ignore[no-untyped-def]
    root = tmp_path / "results"
    shutil.copytree(offline_run, root / offline_run.name)
    shutil.copytree(serving_run, root / "group" / serving_run.name)
    (root / "not-a-run").mkdir()
    entries = {e.name: e for e in list_studies(root)}
    assert set(entries) == {"offline", "serving"}
    assert entries["offline"].status == "complete"
    assert entries["offline"].done == len(OFFLINE_GRID) * CYCLES and entries["offline"].failed == 0
    assert entries["serving"].done == len(SERVING_GRID) * CYCLES
    result = invoke("results", "list", str(root))
    assert result.exit_code == 0, result.output
    assert offline_run.name in result.output and "complete" in result.output
    assert "group/" + serving_run.name in result.output


def test_list_counts_an_interrupted_study_from_its_manifest(offline_run, tmp_path):  # type: ignore[no-untyped-def]
    copy = tmp_path / "run"
    shutil.copytree(offline_run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["status"] = "interrupted"
    manifest["entries"][-1]["status"] = "interrupted"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    (entry,) = list_studies(tmp_path)
    assert entry.status == "interrupted" and entry.pending == 1
    assert entry.done == len(OFFLINE_GRID) * CYCLES - 1


def test_show_prints_the_summary_table(offline_run):  # type: ignore[no-untyped-def]
    result = invoke("results", "show", str(offline_run))
    assert result.exit_code == 0, result.output
    assert "max_new_tokens=16, batch_size=4" in result.output
    assert "J/token" in result.output and "mean ITL (s)" in result.output and "★" in result.output
    assert f"{CYCLES}/{CYCLES}" in result.output


def test_compare_a_study_with_itself_matches_by_hash_with_ratio_one(offline_run):  # type: ignore[no-untyped-def]
    a = load_study(offline_run)
    result = compare(a, a)
    assert len(result.pairs) == len(OFFLINE_GRID) and not result.only_a and not result.only_b
    for pair in result.pairs:
        assert pair.matched_by == "config hash"
        assert [c.ratio for c in pair.changes] == [pytest.approx(1.0)] * 2
        assert all(c.overlap is True for c in pair.changes)


def _shifted(study, factor: float, rename: bool):  # type: ignore[no-untyped-def]
    """The study as if re-run with J/token x ``factor`` (and other hashes if ``rename``)."""

    def scaled(s: MetricSummary) -> MetricSummary:
        return attrs.evolve(
            s, mean=s.mean * factor, ci_low=s.ci_low * factor, ci_high=s.ci_high * factor
        )

    new = (lambda h: "x" + h[1:]) if rename else (lambda h: h)
    aggregates = tuple(
        attrs.evolve(
            a,
            config_hash=new(a.config_hash),
            metrics={
                **a.metrics,
                "energy_per_output_token_j": scaled(a.metrics["energy_per_output_token_j"]),
            },
        )
        for a in study.aggregates
    )
    experiments = tuple(attrs.evolve(r, config_hash=new(r.config_hash)) for r in study.experiments)
    return attrs.evolve(
        study,
        aggregates=aggregates,
        experiments=experiments,
        params={new(h): p for h, p in study.params.items()},
    )


def test_compare_matches_by_parameters_and_flags_a_real_change(offline_run):  # type: ignore[no-untyped-def]
    a = load_study(offline_run)
    b = _shifted(a, 1.5, rename=True)
    result = compare(a, b)
    assert len(result.pairs) == len(OFFLINE_GRID)
    for pair in result.pairs:
        assert pair.matched_by == "parameters" and pair.b_hash == "x" + pair.a_hash[1:]
        energy, throughput = pair.changes
        assert energy.ratio == pytest.approx(1.5) and energy.overlap is False
        assert throughput.ratio == pytest.approx(1.0) and throughput.overlap is True


def test_compare_lists_configurations_without_a_partner(offline_run, serving_run):  # type: ignore[no-untyped-def]
    result = compare(load_study(offline_run), load_study(serving_run))
    assert result.pairs == ()
    assert len(result.only_a) == len(OFFLINE_GRID) and len(result.only_b) == len(SERVING_GRID)


def test_intervals_missing_mean_overlap_is_unknown():
    one = MetricSummary(2, 1.0, 1.0, 0.1, 0.9, 1.1, 0.1, None, None)
    assert overlap(one, one) is None


def test_compare_command_prints_ratios_and_overlap(offline_run):  # type: ignore[no-untyped-def]
    result = invoke("results", "compare", str(offline_run), str(offline_run))
    assert result.exit_code == 0, result.output
    assert "1.000" in result.output and "yes" in result.output and "config hash" in result.output


def test_export_hf_datasets_loads_with_datasets_offline(offline_run, tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    out = tmp_path / "export"
    result = invoke(
        "results", "export", str(offline_run), "--format", "hf-datasets", "--out", str(out)
    )
    assert result.exit_code == 0, result.output
    data = out / "data" / "results.parquet"
    ds = datasets.load_dataset("parquet", data_files=str(data), cache_dir=str(tmp_path / "cache"))[
        "train"
    ]
    assert ds.num_rows == len(OFFLINE_GRID) * CYCLES
    assert {"energy_per_output_token_j", "tokens_per_second", "fake.batch_size"} <= set(
        ds.column_names
    )
    assert all(v > 0 for v in ds["energy_per_output_token_j"])
    # the folder itself, as the Hub reads it: the card's YAML names the data files
    again = datasets.load_dataset(str(out), cache_dir=str(tmp_path / "cache2"))
    assert list(again) == ["train"] and again["train"].num_rows == ds.num_rows
    card = (out / "README.md").read_text()
    assert card.startswith("---\n") and "configs:" in card and "license: cc-by-4.0" in card
    assert "| `energy_per_output_token_j` | energy per output token (J/token)" in card


def test_export_card_metadata_is_what_the_hub_parses(offline_run, tmp_path):  # type: ignore[no-untyped-def]
    hub = pytest.importorskip("huggingface_hub")
    out = tmp_path / "export"
    invoke("results", "export", str(offline_run), "--out", str(out))
    meta = hub.DatasetCard.load(out / "README.md").data.to_dict()
    assert meta["configs"] == [
        {
            "config_name": "default",
            "data_files": [{"split": "train", "path": "data/results.parquet"}],
        }
    ]
    assert "energy" in meta["tags"] and meta["size_categories"] == ["n<1K"]
