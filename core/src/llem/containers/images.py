"""The first-party images and ``llem docker build``.

One Dockerfile per backend in ``dockerfiles/`` beside this module (package data; the
source tree's ``docker/`` links here), each based on the engine's own image. A tag names llem's
version, the engine's version and the CUDA major version:
``llem-vllm:0.1.0-vllm0.26.0-cu12``. The host's CUDA driver chooses the CUDA major
(the newest the recipe has that the driver runs); without a GPU the tag says ``cpu``
where the recipe has a CPU base, else the lowest CUDA major.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import attrs

import llem


@attrs.frozen
class Recipe:
    backend: str
    engine: str  # the distribution whose version the tag names
    version: str
    bases: Mapping[str, str]  # CUDA major ("12", "13") or "cpu" -> base image


RECIPES = {
    "pytorch": Recipe(
        "pytorch",
        "torch",
        "2.11.0",
        {
            "12": "pytorch/pytorch:2.11.0-cuda12.8-cudnn9-runtime",
            "13": "pytorch/pytorch:2.11.0-cuda13.0-cudnn9-runtime",
        },
    ),
    "vllm": Recipe("vllm", "vllm", "0.26.0", {"12": "vllm/vllm-openai:v0.26.0"}),
    "trtllm": Recipe(
        "trtllm",
        "tensorrt_llm",
        "1.2.0",
        {"13": "nvcr.io/nvidia/tensorrt-llm/release:1.2.0"},
    ),
}


def cuda_major(recipe: Recipe, driver_cuda: str | None) -> str:
    """The base to use under a driver that runs CUDA ``driver_cuda`` ("12.8"); None: no GPU."""
    majors = sorted((k for k in recipe.bases if k.isdigit()), key=int)
    if driver_cuda is None:
        return "cpu" if "cpu" in recipe.bases else majors[0]
    runnable = [m for m in majors if int(m) <= int(driver_cuda.split(".")[0])]
    return runnable[-1] if runnable else majors[0]


def tag(recipe: Recipe, major: str) -> str:
    flavour = "cpu" if major == "cpu" else f"cu{major}"
    engine = recipe.engine.replace("_", "-")
    return f"llem-{recipe.backend}:{llem.__version__}-{engine}{recipe.version}-{flavour}"


def default_tag(backend: str) -> str:
    """The tag ``llem docker build BACKEND`` gives on this host; for a backend without a
    recipe, ``llem-BACKEND:<llem version>`` (build it yourself, or set execution.images)."""
    recipe = RECIPES.get(backend)
    if recipe is None:
        return f"llem-{backend}:{llem.__version__}"
    return tag(recipe, cuda_major(recipe, host_cuda()))


def host_cuda() -> str | None:
    """The CUDA version the host's driver supports ("12.8"), None without NVML/GPU."""
    try:
        from llem.measure.environment import snapshot

        return snapshot(()).cuda_driver_version
    except Exception:
        return None


def dockerfile(backend: str) -> str:
    path = resources.files("llem.containers").joinpath(f"dockerfiles/{backend}.Dockerfile")
    return path.read_text(encoding="utf-8")


def build_context(backend: str, source: Path | None) -> Path:
    """A temporary build context: the Dockerfile, and the source trees of llem-core and
    the plugin when building from a checkout (``source``), else nothing more (the
    Dockerfile then installs the released versions from the package index)."""
    context = Path(tempfile.mkdtemp(prefix="llem-build-"))
    (context / "Dockerfile").write_text(dockerfile(backend))
    if source is not None:
        ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")
        shutil.copytree(source / "core", context / "src" / "core", ignore=ignore)
        shutil.copytree(
            source / "plugins" / f"llem_{backend}", context / "src" / "plugin", ignore=ignore
        )
    else:
        (context / "src").mkdir()
    return context


def build(backend: str, *, major: str, source: Path | None, base: str | None) -> str:
    """Build the image for ``backend`` with docker; returns its tag."""
    from llem.containers import engine

    recipe = RECIPES[backend]
    docker: Any = engine.client()
    image = tag(recipe, major)
    context = build_context(backend, source)
    try:
        docker.build(
            context,
            tags=[image],
            build_args={
                "BASE": base or recipe.bases[major],
                "LLEM_VERSION": llem.__version__,
                "FROM_SOURCE": "1" if source is not None else "0",
            },
            labels={
                f"llem.engine.{recipe.engine}": recipe.version,
                "llem.version": llem.__version__,
            },
            network="host",
        )
    finally:
        shutil.rmtree(context, ignore_errors=True)
    return image


def source_tree() -> Path | None:
    """The checkout llem runs from (an editable install), if it is one."""
    root = Path(__file__).resolve().parents[4]
    return root if (root / "core" / "pyproject.toml").is_file() else None
