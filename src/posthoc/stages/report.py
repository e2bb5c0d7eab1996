"""Stage: the final report, with the software versions that produced it."""

from __future__ import annotations

import platform
from importlib import metadata

from ..report import build_report

PACKAGES = (
    "posthoc",
    "torch",
    "torchvision",
    "numpy",
    "scikit-learn",
    "scikit-image",
    "matplotlib",
    "snakemake",
    "mnist1d",
    "medmnist",
)


def software_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def run(*, html: str, results: str, config: dict, speed_tables: dict, captions: dict) -> None:
    """The report of ``results`` under ``config``; ``speed_tables``: benchmark CSV name -> (CSV text, measurement
    notes); ``captions``: stage -> title and captions (``posthoc.report.captions.load_captions``)."""
    build_report(
        results, config, html, versions=software_versions(), speed_tables=speed_tables, caption_source=captions
    )
