"""The telemetry of a window, kept as columns: one row per GPU per sample (long format).

Columns are plain lists while sampling (an append is all a sample costs) and become a
pyarrow table only when written to ``timeseries.parquet``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from llem.interfaces import Device

STATE_COLUMNS = (
    "temperature_c",
    "memory_used_bytes",
    "memory_total_bytes",
    "sm_util_pct",
    "mem_util_pct",
    "sm_clock_mhz",
    "mem_clock_mhz",
    "clock_event_reasons",
)
COLUMNS = ("t_ns", "gpu_uuid", "cuda_index", "nvml_index", "power_w", "energy_mj", *STATE_COLUMNS)


class Timeseries:
    """Columns of samples; ``t_ns`` is time.perf_counter_ns() of the worker."""

    def __init__(self) -> None:
        self.columns: dict[str, list[Any]] = {name: [] for name in COLUMNS}

    def __len__(self) -> int:
        return len(self.columns["t_ns"])

    def append(
        self,
        device: Device,
        t_ns: int,
        power_w: float | None,
        energy_mj: int | None,
        state: Mapping[str, Any],
    ) -> None:
        c = self.columns
        c["t_ns"].append(t_ns)
        c["gpu_uuid"].append(device.uuid)
        c["cuda_index"].append(device.cuda_index)
        c["nvml_index"].append(device.nvml_index)
        c["power_w"].append(power_w)
        c["energy_mj"].append(energy_mj)
        for name in STATE_COLUMNS:
            c[name].append(state.get(name))

    def uuids(self) -> list[str]:
        return list(dict.fromkeys(self.columns["gpu_uuid"]))

    def rows(self, uuid: str, column: str) -> list[tuple[int, Any]]:
        """(t_ns, value) of one GPU where ``column`` has a value, in time order."""
        c = self.columns
        out = [
            (t, v)
            for t, g, v in zip(c["t_ns"], c["gpu_uuid"], c[column], strict=True)
            if g == uuid and v is not None
        ]
        out.sort(key=lambda p: p[0])
        return out

    def samples(self, uuid: str) -> int:
        return sum(1 for g in self.columns["gpu_uuid"] if g == uuid)

    def to_table(self, t0_ns: int | None = None) -> Any:
        """A pyarrow table; ``t_s`` is seconds since ``t0_ns`` (the window's opening)."""
        import pyarrow as pa

        c = self.columns
        base = t0_ns if t0_ns is not None else (min(c["t_ns"]) if c["t_ns"] else 0)
        types = {
            "t_ns": pa.int64(),
            "gpu_uuid": pa.string(),
            "cuda_index": pa.int32(),
            "nvml_index": pa.int32(),
            "power_w": pa.float64(),
            "energy_mj": pa.int64(),
            "temperature_c": pa.float64(),
            "memory_used_bytes": pa.int64(),
            "memory_total_bytes": pa.int64(),
            "sm_util_pct": pa.float64(),
            "mem_util_pct": pa.float64(),
            "sm_clock_mhz": pa.float64(),
            "mem_clock_mhz": pa.float64(),
            "clock_event_reasons": pa.int64(),
        }
        arrays = {"t_s": pa.array([(t - base) / 1e9 for t in c["t_ns"]], pa.float64())}
        arrays.update({name: pa.array(c[name], types[name]) for name in COLUMNS})
        return pa.table(arrays)

    def write_parquet(self, path: Path, t0_ns: int | None = None) -> None:
        """Write atomically (temp file + os.replace)."""
        import pyarrow.parquet as pq

        from llem.results.io import atomic_path

        with atomic_path(Path(path)) as tmp:
            pq.write_table(self.to_table(t0_ns), tmp)

    @classmethod
    def read_parquet(cls, path: Path) -> Timeseries:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        ts = cls()
        for name in COLUMNS:
            ts.columns[name] = table.column(name).to_pylist()
        return ts
