"""The dry-run plan per executor: how many at once, and the wall time then."""

from __future__ import annotations

import attrs
from llem.config.schema import ExecutionConfig
from llem.plan.preview import Gpus, build_preview, render
from llem.run.executors import concurrency
from rich.console import Console

from tests.core.run.conftest import quick_study


def test_local_runs_one_at_a_time_unless_given_gpu_slots():
    assert concurrency(ExecutionConfig(), [1, 1], 8)[0] == 1
    assert concurrency(ExecutionConfig(parallel="per_gpu"), [1, 1], 8)[0] == 8
    assert concurrency(ExecutionConfig(parallel=2), [2, 2], 8)[0] == 4
    alone = ExecutionConfig(parallel="per_gpu", isolation="exclusive_node")
    assert concurrency(alone, [1], 8) == (1, "local, one at a time (isolation: exclusive_node)")


def test_remote_executors_plan_with_max_concurrent_or_one_per_configuration():
    assert concurrency(ExecutionConfig(executor="slurm", max_concurrent=3), [1] * 5, 0)[0] == 3
    at_once, why = concurrency(ExecutionConfig(executor="ray"), [1] * 5, 0)
    assert at_once == 5 and "max_concurrent" in why


def test_the_dry_run_shows_the_plan_and_a_shorter_wall_time_for_gpu_slots():
    study = quick_study(2, 3)
    gpus = Gpus({0: 80 * 2**30, 1: 80 * 2**30}, ("H100", "H100"))

    def shown(**execution):  # type: ignore[no-untyped-def]
        s = attrs.evolve(study, execution=attrs.evolve(study.execution, **execution))
        console = Console(record=True, width=200)
        render(build_preview(s, gpus), console)
        return console.export_text()

    one = shown()
    two = shown(parallel="per_gpu")
    assert "plan: executor local, 1 experiment(s) at once" in one
    assert "plan: executor local, 2 experiment(s) at once (local, 2 GPU(s) / 1 per" in two
    assert "cycles: auto" in shown(cycles="auto")


def test_a_plain_local_study_imports_neither_ray_nor_submitit():
    import subprocess
    import sys

    code = (
        "import sys; from llem.run import session, dispatch, study; "
        "from llem.run.executors import local, make_executor; "
        "from llem.config.schema import ExecutionConfig; "
        "assert not {'ray', 'submitit'} & set(sys.modules), sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
