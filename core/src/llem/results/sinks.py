"""The built-in sinks, registered by llem.builtins through the same hook as any
third-party sink.

- ``json``: ``experiments/<id>/result.json`` for each experiment, ``study.json`` at the end.
- ``parquet``: ``results.parquet``, one flat row per experiment x cycle, rewritten
  atomically after every experiment so that a crash keeps everything finished.

Both write atomically (llem.results.io).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import structlog

from llem.interfaces import Sink
from llem.results.flatten import flat_row, scalar
from llem.results.io import atomic_path, write_json_atomic
from llem.results.schema import ExperimentResult, StudyResult
from llem.results.serialize import result_from_dict, result_to_dict, study_to_dict

log = structlog.get_logger()

EXPERIMENTS_DIR = "experiments"
RESULT_NAME = "result.json"
STUDY_NAME = "study.json"
PARQUET_NAME = "results.parquet"


def result_path(run_dir: Path, experiment_id: str) -> Path:
    return Path(run_dir) / EXPERIMENTS_DIR / experiment_id / RESULT_NAME


class JsonSink(Sink):
    """result.json per experiment, study.json per study."""

    name = "json"

    def write_experiment(self, result: ExperimentResult) -> None:
        write_json_atomic(result_path(self.run_dir, result.id), result_to_dict(result))

    def write_study(self, study: StudyResult) -> None:
        write_json_atomic(Path(self.run_dir) / STUDY_NAME, study_to_dict(study))


class ParquetSink(Sink):
    """results.parquet: every result seen so far (including those of an earlier session
    of a resumed study, read back from their result.json)."""

    name = "parquet"

    def open(self, run_dir: Path) -> None:
        super().open(run_dir)
        self.results: dict[str, ExperimentResult] = {}
        for path in sorted(Path(run_dir).glob(f"{EXPERIMENTS_DIR}/*/{RESULT_NAME}")):
            try:
                result = result_from_dict(json.loads(path.read_text("utf-8")), str(path))
            except Exception as exc:  # unreadable: it will be run again and re-sent
                log.warning("parquet_sink.skipped_result", path=str(path), error=str(exc))
                continue
            self.results[result.id] = result

    def write_experiment(self, result: ExperimentResult) -> None:
        self.results[result.id] = result
        self._write(list(self.results.values()))

    def write_study(self, study: StudyResult) -> None:
        self.results = {r.id: r for r in study.experiments}
        self._write(list(study.experiments))

    def _write(self, results: Sequence[ExperimentResult]) -> None:
        import pyarrow.parquet as pq

        from llem.config.identity import varying_from_dicts

        params = varying_from_dicts(r.config for r in results)
        rows = [flat_row(r, p) for r, p in zip(results, params, strict=True)]
        with atomic_path(Path(self.run_dir) / PARQUET_NAME) as tmp:
            pq.write_table(rows_to_table(rows), tmp)


def rows_to_table(rows: Sequence[Mapping[str, Any]]) -> Any:
    """A pyarrow table of ``rows`` (union of their keys, in first-seen order). A column
    whose values pyarrow cannot put in one type is stored as text."""
    import pyarrow as pa

    names = list(dict.fromkeys(k for row in rows for k in row))
    arrays = {}
    for name in names:
        values = [scalar(row.get(name)) for row in rows]
        try:
            arrays[name] = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[name] = pa.array([None if v is None else str(v) for v in values], pa.string())
    return pa.table(arrays) if names else pa.table({})
