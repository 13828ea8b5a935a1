"""llem-core's own meter and sinks pass the meter and sink conformance helpers (the
helpers third-party meters and sinks use)."""

from __future__ import annotations

from llem.results.sinks import JsonSink, ParquetSink
from llem.telemetry.nvml_meter import NvmlMeter
from llem.testing import MeterConformance, SinkConformance


class TestNvmlMeterConformance(MeterConformance):
    """On a machine without NVML the probe must refuse with a reason; with a GPU and no
    devices given it must still answer."""

    meter_class = NvmlMeter
    bad_configs = [{"method": "guess"}, {"methd": "auto"}]
    plugin = "llem.builtins"


class TestJsonSinkConformance(SinkConformance):
    sink_class = JsonSink
    plugin = "llem.builtins"


class TestParquetSinkConformance(SinkConformance):
    sink_class = ParquetSink
    plugin = "llem.builtins"
