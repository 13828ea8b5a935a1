"""The ``llem`` command.

Exit codes: 0 ok; 1 an experiment or the run failed; 2 bad usage or config (and other
LlemErrors that carry 2, such as a run directory another llem holds); 130 interrupted
by Ctrl+C (SIGINT), 143 stopped by SIGTERM -- both a clean stop (llem.run.stop). An
LlemError is printed as its message, with the traceback only under ``--debug``.
Importing this module stays cheap (click only): everything else is imported inside the
command that needs it, so ``llem --help`` is fast; plugins' ``register_commands`` are
loaded when the command list is needed.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from typing import Any

import click

from llem.errors import LlemError

PROFILES = ("quick", "standard", "publication")


class LlemGroup(click.Group):
    """Built-in commands, plugin commands (loaded on demand), LlemError -> exit code."""

    plugins_loaded = False

    def load_plugin_commands(self) -> None:
        if self.plugins_loaded:
            return
        self.plugins_loaded = True
        from llem.plugins import get_registry

        # Only the plugins' hook modules: listing commands needs no backend or meter.
        get_registry(components=False).call_register_commands(self)

    def list_commands(self, ctx: click.Context) -> list[str]:
        self.load_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            self.load_plugin_commands()
            command = super().get_command(ctx, cmd_name)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except LlemError as exc:
            if ctx.params.get("debug"):
                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt as exc:  # before a study started: nothing to keep
            from llem.run.stop import exit_code

            click.echo("interrupted", err=True)
            ctx.exit(exit_code(exc))


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    import llem
    from llem.plugins import get_registry

    click.echo(f"llem-core {llem.__version__}")
    for info in get_registry().plugins:
        status = "" if info.status == "ok" else f" ({info.status})"
        click.echo(f"{info.distribution} {info.version} [{info.name}]{status}")
    ctx.exit(0)


@click.group(cls=LlemGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the versions of llem and every plugin.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
def cli(debug: bool) -> None:
    """llem: what an implementation choice costs when an LLM generates text
    (joules per token, throughput, latency), measured the way a reviewer accepts."""
    from llem import logs

    if debug:
        os.environ["LLEM_DEBUG"] = "1"  # the worker processes log at debug level too
    logs.configure(debug=debug)


@cli.command()
@click.argument("config", required=False)
@click.option("--model", help="Model id (builtin:tiny-llama, a hub id or a local dir).")
@click.option("--backend", help="Backend name (pytorch, vllm, ...).")
@click.option(
    "--set",
    "overrides",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override a key for every experiment (dotted key, YAML value); "
    "sweep.KEY=[...] sets a sweep axis. Repeatable.",
)
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
    help="quick: smoke test; standard: default floors; publication: >= 5 "
    "cycles, 60 s thermal floor, baseline.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False),
    help="Directory for the run directory (default: output.dir).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Resolve and validate; print the experiments, memory and time estimates.",
)
@click.option(
    "--resume",
    "resume_dir",
    type=click.Path(file_okay=False),
    help="Carry on the study in this run directory (from any working directory: its "
    "inputs are pinned; refused if one changed).",
)
def run(
    config: str | None,
    model: str | None,
    backend: str | None,
    overrides: tuple[str, ...],
    profile: str | None,
    out_dir: str | None,
    dry_run: bool,
    resume_dir: str | None,
) -> None:
    """Run CONFIG (a YAML file), or --model MODEL [--backend NAME] without a file.

    Where experiments run is execution.executor: local (default; with
    execution.parallel: per_gpu, side by side on this node's GPUs), ray or slurm
    (pip install 'llem-core[ray]' / '[slurm]'); --dry-run shows how many run at once.
    Ctrl+C cancels all of them and exits 130; --resume carries on. See docs/executors.md.

    load.mode: serving sends requests over time (load.arrival poisson, gamma, constant,
    concurrency or trace at load.rate) and reports steady-state J/token, energy per
    request and SLO goodput (slo.ttft_s, slo.tpot_s); sweep load.rate. Levels that share
    an engine run on one loaded engine (execution.reuse_engine: false for a process
    each). See docs/serving.md.

    SIGTERM stops a study like Ctrl+C (exit 143; 130 for Ctrl+C), keeping what
    finished. A run directory is locked while a study runs in it: a second runner
    exits 2 naming the holder's PID. Dataset files, local model directories and
    traces are pinned (path + fingerprint): a resume whose inputs changed is refused.
    A study plans at most 10,000 runs (LLEM_MAX_RUNS=N raises the limit).
    """
    from pathlib import Path

    if resume_dir is not None:
        _resume(Path(resume_dir), config, model, backend, overrides, profile, out_dir, dry_run)
        return
    from llem.config.loader import config_from_args, load_config

    if config is not None:
        flags = [
            f"{k}={json.dumps(v)}"
            for k, v in (("model", model), ("backend", backend))
            if v is not None
        ]
        study = load_config(config, overrides=(*flags, *overrides), profile=profile)
    else:
        study = config_from_args(model, backend, overrides, profile)
    if dry_run:
        _dry_run(study)
        return
    from llem.run.stop import sigterm_stops
    from llem.run.study import run_study

    with sigterm_stops():
        _finish(run_study(study, out_dir=Path(out_dir) if out_dir else None))


def _resume(
    run_dir: Any,
    config: str | None,
    model: str | None,
    backend: str | None,
    overrides: tuple[str, ...],
    profile: str | None,
    out_dir: str | None,
    dry_run: bool,
) -> None:
    given = [
        flag
        for flag, value in (
            ("CONFIG", config),
            ("--model", model),
            ("--backend", backend),
            ("--set", overrides),
            ("--profile", profile),
            ("--out", out_dir),
            ("--dry-run", dry_run),
        )
        if value
    ]
    if given:
        raise click.UsageError(
            f"--resume takes the study from the run directory; drop {', '.join(given)}"
        )
    from llem.run.stop import sigterm_stops
    from llem.run.study import resume_study

    with sigterm_stops():
        _finish(resume_study(run_dir))


def _finish(result: Any) -> None:
    if result.status != "complete" or result.failures:
        click.echo(f"{len(result.failures)} run(s) failed; results in {result.run_dir}", err=True)
        sys.exit(1)


def _console() -> Any:
    """A rich Console; when stdout is not a terminal, wide enough that a table row
    stays one line (unless COLUMNS says otherwise)."""
    from rich.console import Console

    console = Console()
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 240
    return console


def _dry_run(study: Any) -> None:
    from llem.plan.preview import build_preview, render

    render(build_preview(study), _console())


@cli.command(name="config")
@click.option(
    "--params",
    "params_of",
    metavar="BACKEND",
    help="List BACKEND's first-class knobs (name, type, default, doc) and the impactful "
    "engine knobs it does not expose yet (see docs/parameters.md).",
)
def config_command(params_of: str | None) -> None:
    """Show plugins (name, kind, version, status), GPUs and the user config."""
    from llem.plugins import get_registry

    if params_of is not None:
        from llem.parameters import render as render_params

        render_params(get_registry().get("backend", params_of), _console())
        return
    from llem.inventory import render

    render(get_registry(), _console())


def _add_commands() -> None:
    from llem.containers.cli import docker_group

    cli.add_command(docker_group)
    from llem.report.cli import report_command, results_group

    cli.add_command(report_command)
    cli.add_command(results_group)


_add_commands()


def main() -> None:
    cli(prog_name="llem")


if __name__ == "__main__":
    main()
