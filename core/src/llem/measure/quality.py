"""Measurement warnings: what weakens a result, and how to fix it. They never block a run.

Each check is a small function returning warnings (the lifecycle calls them). Every
code, with its meaning and fix, is in ``llem.measure.warning_codes`` (docs/warnings.md);
a new code goes there too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from llem.interfaces import Device, EnergyReading
from llem.measure.throttle import assess
from llem.results.schema import Environment, MeasurementWarning, WarmupOutcome
from llem.telemetry.nvml import NvmlUnavailable, nvml, optional
from llem.telemetry.timeseries import Timeseries

MIN_SAMPLES = 10
GPU_DEVICE_FILE = re.compile(r"/dev/nvidia\d+")
MIN_THERMAL_FLOOR_S = 30.0
CROSS_CHECK_TOLERANCE = 0.02


def W(code: str, message: str, fix: str) -> MeasurementWarning:  # noqa: N802
    return MeasurementWarning(code=code, message=message, fix=fix)


def short_window(window_s: float, min_window_s: float) -> list[MeasurementWarning]:
    if window_s >= min_window_s:
        return []
    return [
        W(
            "short_window",
            f"the measurement window lasted {window_s:.2f} s, under energy.min_window_s="
            f"{min_window_s:g} s: meters count energy in steps (NVML every 100 ms) with "
            f"fixed error bounds (+-5 W per GPU), so a short window's energy is imprecise",
            "raise dataset.num_prompts or generation.max_new_tokens until the window "
            f"lasts at least {min_window_s:g} s",
        )
    ]


def persistence_off(env: Environment | None) -> list[MeasurementWarning]:
    off = [g for g in (env.gpus if env else ()) if g.persistence_mode is False]
    if not off:
        return []
    names = ", ".join(f"GPU {g.cuda_index} ({g.uuid})" for g in off)
    return [
        W(
            "persistence_off",
            f"persistence mode is off on {names}: the driver may unload between runs, "
            f"adding start-up latency and idle-power transients",
            "sudo nvidia-smi -pm 1",
        )
    ]


def thermal_drift(series: Timeseries | None, threshold_c: float) -> list[MeasurementWarning]:
    out = []
    for uuid in series.uuids() if series else []:
        temps = [v for _, v in series.rows(uuid, "temperature_c")]  # type: ignore[union-attr]
        if len(temps) >= 2 and max(temps) - min(temps) > threshold_c:
            out.append(
                W(
                    "thermal_drift",
                    f"GPU {uuid} warmed by {max(temps) - min(temps):.0f} °C during the "
                    f"window ({min(temps):.0f} -> {max(temps):.0f} °C), over "
                    f"energy.thermal_drift_c={threshold_c:g}: power rises with "
                    f"temperature, so the result depends on how warm the GPU started",
                    "lengthen warmup (warmup.runs or cv_target) and "
                    "warmup.thermal_floor_s so the GPU reaches steady state first",
                )
            )
    return out


def few_samples(
    series: Timeseries | None, devices: Sequence[Device], interval_ms: int
) -> list[MeasurementWarning]:
    if series is None or not devices:
        return []
    counts = {d.uuid: series.samples(d.uuid) for d in devices}
    low = {u: n for u, n in counts.items() if n < MIN_SAMPLES}
    if not low:
        return []
    return [
        W(
            "few_samples",
            f"only {min(low.values())} telemetry sample(s) per GPU in the window (fewer "
            f"than {MIN_SAMPLES}): the power time series and the prefill/decode split "
            f"rest on too few points",
            f"lengthen the window or lower energy.sample_interval_ms (now {interval_ms})",
        )
    ]


def throttling(
    series: Timeseries | None, env: Environment | None = None
) -> list[MeasurementWarning]:
    """One graded warning per GPU that throttled (llem.measure.throttle): ``info`` for
    the GPU's normal power management, ``warning`` for a throttle that matters."""
    if series is None:
        return []
    maxima = {g.uuid: g.max_sm_clock_mhz for g in env.gpus} if env else {}
    c = series.columns
    out = []
    for uuid in series.uuids():
        pairs = [
            (int(r), clock)
            for g, r, clock in zip(
                c["gpu_uuid"], c["clock_event_reasons"], c["sm_clock_mhz"], strict=True
            )
            if g == uuid and r is not None
        ]
        found = assess([r for r, _ in pairs], [k for _, k in pairs], maxima.get(uuid))
        if found is None:
            continue
        info = found.grade == "info"
        out.append(
            MeasurementWarning(
                "throttling",
                f"GPU {uuid}: {found.summary}"
                + (
                    ": this GPU's normal power management, not a fault"
                    if info
                    else ": throughput and energy reflect the throttled clocks"
                ),
                "nothing to do; a power cap is the condition being measured"
                if info
                else "check cooling and the power limit (nvidia-smi -q -d PERFORMANCE); "
                "a lowered power limit is fine if it is the condition you mean to measure",
                severity=found.grade,
                details=found.details,
            )
        )
    return out


_CLAIMED: set[int] = set()


def claim_process_tree(pid: int) -> None:
    """Count ``pid`` and its descendants as the experiment's own processes, never as
    "other processes on the GPU": for a backend whose engine is not (or not only) this
    worker's child, e.g. a server it attaches to (llem-server). Claims last until
    ``release_process_tree``; the descendants are read when the check runs."""
    _CLAIMED.add(int(pid))


def release_process_tree(pid: int) -> None:
    _CLAIMED.discard(int(pid))


def other_processes(
    devices: Sequence[Device], own_pids: Sequence[int] = ()
) -> list[MeasurementWarning]:
    """Compute processes on the measured GPUs other than this worker and its children
    (engines such as vLLM run the model in child processes) and the claimed process
    trees (``claim_process_tree``). NVML reports host PIDs: inside a container none of
    them matches ours, and then only processes beyond the number of ours that hold a
    GPU open are counted as others."""
    try:
        lib = nvml()
    except NvmlUnavailable:
        return []
    own = set(own_pids) | process_tree(os.getpid())
    for claimed in tuple(_CLAIMED):
        own |= process_tree(claimed)
    ours_on_gpus: int | None = None  # read from /proc only inside another PID namespace
    out = []
    for d in devices:
        try:
            handle = lib.nvmlDeviceGetHandleByUUID(d.uuid)
        except lib.NVMLError:
            continue
        procs = optional("nvmlDeviceGetComputeRunningProcesses", handle) or []
        pids = [int(p.pid) for p in procs]
        others = [p for p in pids if p not in own]
        if len(others) == len(pids):  # not one of ours visible: another PID namespace
            if ours_on_gpus is None:
                users = gpu_users(own)
                ours_on_gpus = len(own) if users is None else len(users)
            others = others[ours_on_gpus:]
        if others:
            out.append(
                W(
                    "other_process",
                    f"GPU {d.cuda_index} ({d.uuid}) also runs process(es) "
                    f"{', '.join(map(str, others))}: their energy is counted in this "
                    f"experiment's window",
                    "stop other GPU jobs during measurements (nvidia-smi lists them)",
                )
            )
    return out


def gpu_users(pids: Iterable[int]) -> set[int] | None:
    """Those of ``pids`` with an NVIDIA GPU device file open (a CUDA context holds
    /dev/nvidiaN), or None where /proc does not tell."""
    users = set()
    for pid in pids:
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except FileNotFoundError:
            continue  # exited
        except OSError:
            return None
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if GPU_DEVICE_FILE.fullmatch(target):
                users.add(pid)
                break
    return users


def process_tree(root: int) -> set[int]:
    """``root`` and its descendants (from /proc; just ``root`` where there is none)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return {root}
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    tree, todo = set(), [root]
    while todo:
        pid = todo.pop()
        if pid not in tree:
            tree.add(pid)
            todo.extend(children.get(pid, []))
    return tree


def methodology(cfg: Any, baseline_missing_reason: str | None) -> list[MeasurementWarning]:
    """Shortcuts allowed by the config (quick profile) that weaken the measurement."""
    out = []
    floor = cfg.warmup.thermal_floor_s
    if floor < MIN_THERMAL_FLOOR_S:
        out.append(
            W(
                "thermal_floor_short",
                f"warmup.thermal_floor_s is {floor:g} s (under {MIN_THERMAL_FLOOR_S:g} s): "
                f"the GPU may still be cooling or heating from warmup when the window "
                f"opens",
                "set warmup.thermal_floor_s to 60 (the default)",
            )
        )
    if baseline_missing_reason:
        out.append(
            W(
                "no_baseline",
                f"no idle baseline: {baseline_missing_reason}; adjusted energy "
                f"(energy above idle) is not available",
                "set baseline.enabled: true",
            )
        )
    if cfg.execution.cycles == 1:
        out.append(
            W(
                "single_cycle",
                "execution.cycles is 1: one measurement shows no run-to-run spread and "
                "gets no confidence interval",
                "set execution.cycles to 3 or more",
            )
        )
    return out


def baseline_unsettled(drift_w: Mapping[str, float], measured_s: float) -> list[MeasurementWarning]:
    """The idle power was still moving when the baseline measurement gave up."""
    moves = ", ".join(f"{uuid[:12]} {watts:+.1f} W" for uuid, watts in drift_w.items())
    return [
        W(
            "baseline_unsettled",
            f"the idle baseline had not settled after {measured_s:g} s (last third minus "
            f"first third of its span: {moves}); a GPU still cooling from earlier work "
            f"overstates idle power, so adjusted energy is understated",
            "raise execution.config_gap_s or baseline.max_settle_s so the GPU can cool, "
            "and check that nothing else runs on it",
        )
    ]


def energy_quality(
    primary: EnergyReading | None, rel_diffs: Mapping[str, float], window_s: float
) -> list[MeasurementWarning]:
    out = []
    if primary is not None and "power_integration" in primary.method:
        out.append(
            W(
                "polled_power",
                f"the {primary.meter} meter integrated polled power on some GPUs "
                f"(no energy counter): expect a few percent more error than the "
                f"counter",
                "use a Volta or newer GPU for counter-based energy",
            )
        )
    for name, diff in rel_diffs.items():
        if abs(diff) > CROSS_CHECK_TOLERANCE:
            out.append(
                W(
                    "cross_check_disagreement",
                    f"the {name} meter differs from the primary "
                    f"{primary.meter if primary else '?'} meter by {diff:+.1%} over the "
                    f"same {window_s:.1f} s window (tolerance "
                    f"{CROSS_CHECK_TOLERANCE:.0%})",
                    "lengthen the window; check that both meters measure the same "
                    "devices (CUDA_DEVICE_ORDER=PCI_BUS_ID) and components",
                )
            )
    return out


def warmup_quality(
    outcome: WarmupOutcome | None, cv_target: float | None, max_runs: int
) -> list[MeasurementWarning]:
    if outcome is None or outcome.converged is not False:
        return []
    cv = f"{outcome.cv:.3f}" if outcome.cv is not None else "unknown"
    return [
        W(
            "warmup_not_converged",
            f"warmup did not converge: the CV of the last run durations was {cv} after "
            f"{outcome.runs} runs (target {cv_target})",
            f"raise warmup.max_runs (now {max_runs}) or warmup.cv_target",
        )
    ]


def sampler_failed(error: str | None) -> list[MeasurementWarning]:
    if not error:
        return []
    return [
        W(
            "sampler_failed",
            f"the telemetry sampler stopped early: {error}; the time "
            f"series (and the prefill/decode split) are incomplete",
            "report it with the llem.log of the run",
        )
    ]


def phase_split_coarse(prefill_s: float | None, interval_ms: int) -> list[MeasurementWarning]:
    if prefill_s is None or prefill_s >= 2 * interval_ms / 1000.0:
        return []
    return [
        W(
            "phase_split_coarse",
            f"prefill took {prefill_s * 1000:.0f} ms in all, under two sampling periods "
            f"({interval_ms} ms): the prefill energy is interpolated between samples",
            "lengthen prompts or raise dataset.num_prompts for a finer prefill figure",
        )
    ]


def energy_unavailable(reason: str, fix: str) -> list[MeasurementWarning]:
    return [W("energy_unavailable", f"energy was not measured: {reason}", fix)]
