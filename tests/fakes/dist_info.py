"""Announce a module as an llem plugin without installing it: a dist-info directory
with an ``[llem]`` entry point, as pip would write, in a directory on sys.path."""

from __future__ import annotations

from pathlib import Path


def announce(site_dir: Path, distribution: str, version: str, entry: str, module: str) -> Path:
    """Write ``<distribution>-<version>.dist-info`` declaring ``entry = module`` in
    ``site_dir``; return ``site_dir``."""
    dist = site_dir / f"{distribution.replace('-', '_')}-{version}.dist-info"
    dist.mkdir(parents=True, exist_ok=True)
    (dist / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
    )
    (dist / "entry_points.txt").write_text(f"[llem]\n{entry} = {module}\n")
    return site_dir
