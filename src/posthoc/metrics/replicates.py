"""Spread of the map-quality metrics over replicate models (the same study trained with other seeds).

* :func:`metric_rows` — one method's per-image scores on one model (the keys of
  ``map_quality/{method}.npz``: ``p``/``p_kept``, ``curve_*``, ``loc_*``) → one mean per layer and
  metric: drop and increase rate (with the increase tolerance), deletion, LeRF deletion and insertion
  AUC, and each localisation score where the dataset has masks.
* :func:`summarise` — long rows (method, layer, metric, replicate, value) → one row per method × layer ×
  metric with the mean, the sample standard deviation (ddof = 1; NaN for a single replicate), the number
  of replicates and each replicate's value (``replicate_<r>`` columns).

The images are the same for every replicate (the dataset's evaluation rows), so the spread is that of
the training seed, not of the image sample (the bootstrap intervals of the other tables give that).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from .deletion import curve_auc, drop_increase_rows

CURVES = ("deletion", "deletion_lerf", "insertion")


def metric_rows(per_image: dict, *, increase_tolerance: float) -> list[dict]:
    """[{layer, metric, value}] of one method on one model (means over its evaluation images)."""
    layers = [str(v) for v in per_image["layers"]]
    r = drop_increase_rows(per_image["p"], per_image["p_kept"], tolerance=increase_tolerance)
    values = {"drop_rate": r["drop"].mean(0), "increase_rate": r["increase"].mean(0)}
    for curve in CURVES:
        if f"curve_{curve}" in per_image:
            auc = curve_auc(per_image[f"curve_{curve}"], per_image["curve_fractions"])
            values[f"{curve}_auc"] = auc.mean(0)
    for key in sorted(k for k in per_image if k.startswith("loc_")):
        values[key[4:]] = np.nanmean(per_image[key], 0)
    return [
        {"layer": layer, "metric": metric, "value": float(v[j])}
        for metric, v in values.items()
        for j, layer in enumerate(layers)
    ]


def summarise(rows: pd.DataFrame) -> pd.DataFrame:
    """Long rows ``method, layer, metric, replicate, value`` → ``method, layer, metric, mean, sd,
    n_replicates, replicate_0, replicate_1, …`` (row order: first appearance)."""
    keys = ["method", "layer", "metric"]
    wide = rows.pivot_table(index=keys, columns="replicate", values="value", aggfunc="first", sort=False)
    wide = wide.reindex(columns=sorted(wide.columns))
    values = wide.to_numpy(np.float64)
    n = np.isfinite(values).sum(1)
    with warnings.catch_warnings():  # an all-NaN row (a metric no replicate has) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(values, 1)
        sd = np.where(n > 1, np.nanstd(values, 1, ddof=1), np.nan)
    out = wide.reset_index()[keys]
    out["mean"], out["sd"], out["n_replicates"] = mean, sd, n
    for j, r in enumerate(wide.columns):
        out[f"replicate_{r}"] = values[:, j]
    return out


__all__ = ["metric_rows", "summarise"]
