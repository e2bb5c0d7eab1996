"""Stage: the final report, with the software versions that produced it."""
from __future__ import annotations

import platform
from importlib import metadata

from ..report import build_report

PACKAGES = ("posthoc", "torch", "torchvision", "numpy", "scikit-learn", "scikit-image", "matplotlib", "snakemake",
            "mnist1d", "medmnist")


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run(results: str, config: dict, out_html: str, speed_tables=()) -> None:
    build_report(results, config, out_html, versions=software_versions(), speed_tables=speed_tables)
