"""Sessions: tests (everything CPU), lint (ruff, format, mypy), bench-smoke.

The test venv sees the system site-packages, so a machine that already has torch (a GPU
user's CUDA build) keeps it; only where none is importable is torch==2.13.0 installed
(a CPU wheel on the CI machine). ``nox`` alone runs tests and lint; CI (.ci/run) runs
both by name. GPU tests: ``nox -s tests -- -m gpu`` on a GPU machine (CONTRIBUTING.md).
"""

import nox

nox.options.sessions = ["tests", "lint"]
LINTED = ["core", "plugins", "tests", "examples", "noxfile.py"]
PACKAGES = [
    "-e",
    "core[report,docker,ray,slurm]",
    "-e",
    "plugins/llem_pytorch",
    "-e",
    "plugins/llem_vllm",
    "-e",
    "plugins/llem_trtllm",
    "-e",
    "plugins/llem_server[http,gguf]",
    "-e",
    "plugins/llem_zeus",
    "-e",
    "plugins/llem_codecarbon",
]


def _install(session: nox.Session) -> None:
    probe = session.run(
        "python",
        "-c",
        "import torch; print('torch-ok')",
        success_codes=[0, 1],
        silent=True,
        log=False,
    )
    if "torch-ok" not in str(probe):
        session.install("torch==2.13.0")
    session.install(*PACKAGES, "pytest>=8", "hypothesis>=6.100", "playwright>=1.40")


@nox.session(venv_params=["--system-site-packages"])
def tests(session: nox.Session) -> None:
    _install(session)
    session.run("python", "-m", "pytest", "-q", *session.posargs)


@nox.session(venv_params=["--system-site-packages"], name="bench-smoke")
def bench_smoke(session: nox.Session) -> None:
    _install(session)
    session.run("python", "bench/cli_speed.py")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check, ruff format --check, and mypy over the core and every plugin (its
    files and settings: pyproject.toml). Only the core is installed: the plugins are
    checked from their source, their engines are Any (no torch, no vLLM needed)."""
    session.install("ruff", "mypy", "pytest>=8", "-e", "core")
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)
    session.run("mypy")
