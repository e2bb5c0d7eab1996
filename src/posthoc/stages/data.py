"""Stage: prepare a dataset in the common on-disk layout."""
from __future__ import annotations

from .. import data


def run(name: str, spec: dict, outdir: str, seed: int) -> dict:
    meta = data.prepare(name, spec, outdir, seed=seed)
    print(f"prepared {name}: {meta['n_samples']} samples, classes {meta['class_names']}")
    return meta
