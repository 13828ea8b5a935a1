"""Every measurement-warning code llem writes into a result, with its meaning and fix.

The one table of codes: ``docs/warnings.md`` is rendered from it
(``python -m llem.measure.warning_codes > docs/warnings.md``) and a test fails when a
code used in the source is missing here or the page is out of date. A warning's own
``message`` and ``fix`` carry the figures of the run; this table says what the code
means in general. ``severity`` is the usual grade: "info" codes report a normal
condition, "graded" ones are "info" or "warning" by how much it mattered.
"""

from __future__ import annotations

from typing import Literal

import attrs


@attrs.frozen
class WarningCode:
    code: str
    severity: Literal["warning", "info", "graded"]
    meaning: str
    fix: str


CODES: tuple[WarningCode, ...] = (
    WarningCode(
        "baseline_unsettled",
        "warning",
        "the idle power was still moving when the baseline measurement gave up: a GPU "
        "still cooling from earlier work overstates idle power, so adjusted energy is "
        "understated",
        "raise execution.config_gap_s or baseline.max_settle_s; check nothing else runs",
    ),
    WarningCode(
        "cross_check_disagreement",
        "warning",
        "a cross-check meter differs from the primary meter by more than 2 % over the same window",
        "lengthen the window; check both meters measure the same devices "
        "(CUDA_DEVICE_ORDER=PCI_BUS_ID) and components",
    ),
    WarningCode(
        "cross_check_ignored",
        "warning",
        "energy.cross_check was not run because energy.meter is null (energy off)",
        "set energy.meter (e.g. auto) or remove energy.cross_check",
    ),
    WarningCode(
        "cross_check_is_primary",
        "warning",
        "energy.cross_check names the primary meter; it is not run twice",
        "remove that name from energy.cross_check",
    ),
    WarningCode(
        "energy_unavailable",
        "warning",
        "energy was not measured (no meter could measure these devices); energy fields "
        "are null and Energy.null_reason says why",
        "run on an NVIDIA GPU or install a meter plugin (llem-zeus, llem-codecarbon)",
    ),
    WarningCode(
        "few_samples",
        "warning",
        "fewer than 10 telemetry samples per GPU in the window: the power time series "
        "and the prefill/decode split rest on too few points",
        "lengthen the window or lower energy.sample_interval_ms",
    ),
    WarningCode(
        "fewer_prompts",
        "warning",
        "the dataset has fewer prompts than dataset.num_prompts; the experiment used "
        "the ones there are",
        "add prompts to the dataset or lower dataset.num_prompts",
    ),
    WarningCode(
        "meter_failed",
        "warning",
        "a meter raised when closing its window; its reading is missing",
        "check that meter's installation, or choose another",
    ),
    WarningCode(
        "no_baseline",
        "warning",
        "no idle baseline was measured: adjusted energy (energy above idle) is null",
        "set baseline.enabled: true",
    ),
    WarningCode(
        "no_meter",
        "warning",
        "energy.meter: auto found no meter that can measure here",
        "run on an NVIDIA GPU (the built-in nvml meter), or pip install llem-zeus (RAPL) "
        "or llem-codecarbon",
    ),
    WarningCode(
        "no_steady_state",
        "warning",
        "serving: the in-flight count never held its level (llem.load.steady), so there is no "
        "steady-state window; the whole run is the headline",
        "lengthen the run: raise load.duration_s or dataset.num_prompts",
    ),
    WarningCode(
        "other_process",
        "warning",
        "another process ran on a measured GPU during the window: its energy is counted "
        "in this experiment's",
        "stop other GPU jobs during measurements (nvidia-smi lists them)",
    ),
    WarningCode(
        "overloaded",
        "warning",
        "serving: the queue grew through the run (mean in-flight count of the last quarter of "
        "the sending span over twice that of its second quarter): the engine did not keep up "
        "with the offered rate, so the figures are those of a saturated engine",
        "lower load.rate (the result's load.achieved_rate_rps shows what was served)",
    ),
    WarningCode(
        "persistence_off",
        "warning",
        "persistence mode is off: the driver may unload between runs, adding start-up "
        "latency and idle-power transients",
        "sudo nvidia-smi -pm 1",
    ),
    WarningCode(
        "phase_split_coarse",
        "warning",
        "prefill took under two sampling periods in all: its energy is interpolated "
        "between samples",
        "lengthen prompts or raise dataset.num_prompts",
    ),
    WarningCode(
        "polled_power",
        "warning",
        "energy came from integrating polled power (no energy counter on the GPU): a "
        "few percent more error than the counter",
        "use a Volta or newer GPU for counter-based energy",
    ),
    WarningCode(
        "requests_failed",
        "warning",
        "serving: some requests' streams raised; they count against the SLO and their "
        "error is in requests.parquet",
        "check the backend's log for the cause",
    ),
    WarningCode(
        "sampler_failed",
        "warning",
        "the telemetry sampler stopped early: the time series and the prefill/decode "
        "split are incomplete",
        "report it with the llem.log of the run",
    ),
    WarningCode(
        "shared_node",
        "warning",
        "other experiments of the study ran on the same node during this one: RAPL "
        "counts CPU/DRAM energy per socket, so cpu_j and dram_j are null (and left out "
        "of total_j)",
        "set execution.isolation: exclusive_node to measure CPU/DRAM energy",
    ),
    WarningCode(
        "short_window",
        "warning",
        "the measurement window was shorter than energy.min_window_s: meters count "
        "energy in steps (NVML every 100 ms) with fixed error bounds, so its energy is "
        "imprecise",
        "raise dataset.num_prompts or generation.max_new_tokens",
    ),
    WarningCode(
        "single_cycle",
        "warning",
        "execution.cycles is 1: no run-to-run spread, no confidence interval",
        "set execution.cycles to 3 or more",
    ),
    WarningCode(
        "thermal_drift",
        "warning",
        "a GPU warmed by more than energy.thermal_drift_c during the window: power rises "
        "with temperature, so the result depends on how warm the GPU started",
        "lengthen warmup (warmup.runs or cv_target) and warmup.thermal_floor_s",
    ),
    WarningCode(
        "thermal_floor_short",
        "warning",
        "warmup.thermal_floor_s is under 30 s (e.g. --profile quick): the GPU may still "
        "be cooling or heating from warmup when the window opens",
        "set warmup.thermal_floor_s to 60 (the default)",
    ),
    WarningCode(
        "throttling",
        "graded",
        "a GPU held its clocks down (NVML clock-event reasons) during the window. The "
        "message gives each reason's share of the samples, the median SM clock under "
        "them vs without, and the share of SM clock cycles lost. Graded (llem.measure."
        "throttle): warning for a thermal or hardware slowdown in at least 1 % of the "
        "samples, a clock drop of at least 30 %, or a loss of at least 20 % of the "
        "window's clock cycles; info otherwise, e.g. the software power cap an H200 "
        "sets in 17-60 % of every run with 17-26 % dips: its normal power management",
        "warning: check cooling and the power limit (nvidia-smi -q -d PERFORMANCE); "
        "info: nothing to do",
    ),
    WarningCode(
        "warmup_not_converged",
        "warning",
        "warmup stopped at warmup.max_runs before the run durations' CV reached warmup.cv_target",
        "raise warmup.max_runs or warmup.cv_target",
    ),
)

BY_CODE = {c.code: c for c in CODES}


def markdown() -> str:
    """docs/warnings.md: the table of every code."""
    lines = [
        "# Measurement warnings",
        "",
        "Every `warnings[].code` an experiment result can carry (`result.json`, the",
        "`warnings` column of `results.parquet`). A warning never blocks a run; it says",
        'what weakens the figures and how to fix it. `severity` "info" reports a normal',
        'condition; "graded" codes are info or warning by how much it mattered.',
        "",
        "Generated from `llem.measure.warning_codes` "
        "(`python -m llem.measure.warning_codes > docs/warnings.md`).",
        "",
        "| code | severity | meaning | fix |",
        "| --- | --- | --- | --- |",
    ]
    for c in CODES:
        lines.append(f"| `{c.code}` | {c.severity} | {c.meaning} | {c.fix} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
