"""Stage: mean ± sd over replicate models of every map-quality metric and of the test accuracy.

Replicate 0 is the dataset's own model: its scores are read from ``map_quality/{method}.npz`` and
``model/scores.json``; replicates 1 .. N − 1 from ``replicates/{r}/map_quality.npz`` and
``replicates/{r}/model/scores.json`` (rules train_replicate, replicate_quality). Writes
``map_quality/replicates.csv``: one row per method × layer × metric (drop_rate, increase_rate,
deletion/deletion_lerf/insertion AUC, localisation scores where masks exist; ``test_accuracy`` with
method ``model`` and an empty layer) with ``mean``, ``sd`` (ddof = 1), ``n_replicates`` and
``replicate_<r>`` (each replicate's value). Only methods that explain the dataset's own model are scored.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import io
from ..metrics.replicates import metric_rows, summarise


def long_rows(per_model: list[dict[str, dict]], accuracies: list[float], *, increase_tolerance: float) -> pd.DataFrame:
    """Per replicate r (list position): {method: per-image dict} and its test accuracy → long rows."""
    rows = []
    for r, (per, accuracy) in enumerate(zip(per_model, accuracies)):
        rows.append({"method": "model", "layer": "", "metric": "test_accuracy", "replicate": r, "value": accuracy})
        for method, d in per.items():
            for row in metric_rows(d, increase_tolerance=increase_tolerance):
                rows.append({"method": method, **row, "replicate": r})
    return pd.DataFrame(rows)


def _split(npz: str) -> dict[str, dict]:
    """``<method>__<key>`` arrays of a replicate file → {method: {key: array}}."""
    f = np.load(npz)
    out: dict[str, dict] = {}
    for name in f.files:
        method, sep, key = name.partition("__")
        if sep:
            out.setdefault(method, {})[key] = f[name]
    return out


def run(
    *,
    per_image: list[str],
    scores: str,
    replicate_scores: list[str],
    replicate_models: list[str],
    increase_tolerance: float,
    dataset: str,
    replicates: str,
) -> pd.DataFrame:
    """``replicate_scores``/``replicate_models``: replicates 1, 2, … in order (replicate 0: ``per_image``, ``scores``)."""
    if len(replicate_scores) != len(replicate_models):
        raise ValueError(f"{len(replicate_scores)} replicate score files but {len(replicate_models)} models")
    main = {}
    for path in per_image:
        f = np.load(path)
        main[str(f["method"])] = {k: f[k] for k in f.files}
    per_model = [main] + [_split(p) for p in replicate_scores]
    accuracies = [float(io.load_json(p)["test"]["accuracy"]) for p in [scores, *replicate_models]]
    table = summarise(long_rows(per_model, accuracies, increase_tolerance=increase_tolerance))
    io.save_csv(replicates, table)
    print(f"{dataset}: {len(per_model)} replicates")
    print(table[["method", "layer", "metric", "mean", "sd", "n_replicates"]].to_string(index=False))
    return table
