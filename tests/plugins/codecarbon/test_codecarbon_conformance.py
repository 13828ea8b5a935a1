"""llem-codecarbon passes the core's meter conformance suite (llem.testing), CPU only."""

from __future__ import annotations

from llem.testing import MeterConformance
from llem_codecarbon.meter import CodeCarbonMeter


class TestCodeCarbonMeterConformance(MeterConformance):
    meter_class = CodeCarbonMeter
    config = {"measure_power_secs": 5, "tracking_mode": "machine", "log_level": "error"}
    bad_configs = [
        {"measure_power_secs": 0},
        {"tracking_mode": "galaxy"},
        {"log_level": "loud"},
        {"force_cpu_power_w": -1},
        {"pue": 1.5},
    ]
