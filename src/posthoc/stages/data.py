"""Stage: prepare a dataset in the common on-disk layout."""

from __future__ import annotations

from pathlib import Path

from .. import data


def run(*, dataset: str, spec: dict, seed: int, arrays: list[str], meta: str) -> dict:
    """Build ``dataset`` from its config ``spec`` into the folder of ``meta``; ``arrays``: the split files it writes."""
    written = data.prepare(dataset, spec, str(Path(meta).parent), seed=seed)
    missing = [p for p in arrays if not Path(p).is_file()]
    if missing:
        raise RuntimeError(f"prepare_data for {dataset} did not write {missing}")
    print(f"prepared {dataset}: {written['n_samples']} samples, classes {written['class_names']}")
    return written
