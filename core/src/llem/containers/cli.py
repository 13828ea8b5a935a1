"""``llem docker``: build the images the docker runner runs backends in."""

from __future__ import annotations

import click

from llem.errors import ConfigError


@click.group(name="docker")
def docker_group() -> None:
    """Images for `execution.runner: docker` (one per backend)."""


@docker_group.command(name="build")
@click.argument("backends", nargs=-1)
@click.option(
    "--cuda",
    "cuda",
    default=None,
    help="CUDA major of the base image (12, 13, or cpu); default: what this host's driver runs.",
)
@click.option("--base", default=None, help="Build on this base image instead of the recipe's.")
@click.option(
    "--from-index",
    is_flag=True,
    help="Install the released llem packages from the package index, not this checkout.",
)
def build_command(
    backends: tuple[str, ...], cuda: str | None, base: str | None, from_index: bool
) -> None:
    """Build the image of each BACKEND (default: every first-party backend).

    Tags name llem's version, the engine's version and the CUDA major, e.g.
    llem-vllm:0.1.0-vllm0.26.0-cu12; a run with `execution.runner: docker` uses that tag
    unless `execution.images` names another.
    """
    from llem.containers import images

    names = backends or tuple(images.RECIPES)
    unknown = [b for b in names if b not in images.RECIPES]
    if unknown:
        raise ConfigError(
            f"no image recipe for backend {unknown[0]!r} (recipes: "
            f"{', '.join(images.RECIPES)}); build your own image and name it in "
            "execution.images"
        )
    source = None if from_index else images.source_tree()
    for name in names:
        recipe = images.RECIPES[name]
        major = cuda or images.cuda_major(recipe, images.host_cuda())
        if major not in recipe.bases and base is None:
            raise ConfigError(
                f"the {name} recipe has no base for CUDA {major!r} (it has "
                f"{', '.join(recipe.bases)}); pass --cuda with one of those or --base IMAGE"
            )
        click.echo(f"building {images.tag(recipe, major)} on {base or recipe.bases[major]} ...")
        click.echo(f"built {images.build(name, major=major, source=source, base=base)}")
