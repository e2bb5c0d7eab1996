"""Stage: the map-quality tables and figures of one dataset, from every method's per-image scores.

Every mean comes with a seeded bootstrap 95 % interval over images (``ci_low``/``ci_high``), and
methods are compared pairwise on the same images (``paired.csv``: a difference is ``decided`` only
when its interval excludes 0). Tables (``map_quality/``):

* ``localisation.csv`` — method, layer, pointing_game, relevance_mass, rank_accuracy, topk_iou
  (+ distractor_share on blockdigits), n, with intervals (no rows without masks);
* ``sanity.csv`` — method, layer, test (cascading/independent; ``data`` with ``randomised = labels``
  for the data randomisation test when ``map_quality.sanity.data_randomisation`` is on), randomised,
  spearman (median), ssim (median, 2-D), intervals, n; ``sanity_flags.csv`` — methods whose maps
  survive full randomisation (and, with the data test, ``data_spearman``/``survives_data_randomisation``);
* ``deletion.csv`` — AUC of the deletion (MoRF, lower is better), LeRF deletion (higher is better)
  and insertion (higher is better) curves;
* ``drop_increase.csv`` — drop rate, increase rate with the tolerance and without it (seed 004's
  count), saturated images; ``per_image_drop.csv`` — drop % of every image;
* ``seed004.csv`` — drop/increase of Grad-CAM (last layer) and integrated gradients (ours and seed
  004's variant) next to seed 004 Table 2 (MNIST-1D), with the model accuracies;
* ``trust.csv`` — which method to trust: the last layer of each method on every metric.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from .. import io
from ..metrics.deletion import curve_auc, drop_increase_rows
from ..metrics.intervals import bootstrap_ci, paired_difference

#: seed 004 Table 2 (MNIST-1D test set) and its model's test accuracy
SEED004 = {"gradcam": (0.411, 0.301), "integrated_gradients": (0.409, 0.173), "accuracy": 0.877}
LOC_METRICS = ("pointing_game", "relevance_mass", "rank_accuracy", "topk_iou", "distractor_share")
CURVE_DIRECTION = {"deletion": "lower", "deletion_lerf": "higher", "insertion": "higher"}


def _ci(values, boot: dict, name: str) -> dict:
    est, low, high = bootstrap_ci(values, **boot)
    return {name: float(est), f"{name}_ci_low": float(low), f"{name}_ci_high": float(high)}


def _load(paths: list[str]) -> dict[str, dict]:
    out = {}
    for p in paths:
        f = np.load(p)
        d = {k: f[k] for k in f.files}
        out[str(d["method"])] = d
    return out


def localisation_table(per: dict, boot: dict) -> pd.DataFrame:
    rows = []
    for method, d in per.items():
        keys = [m for m in LOC_METRICS if f"loc_{m}" in d]
        for j, layer in enumerate(d["layers"]):
            row = {"method": method, "layer": str(layer)}
            for m in keys:
                row.update(_ci(d[f"loc_{m}"][:, j], boot, m))
            if keys:
                row["n"] = int(np.isfinite(d["loc_pointing_game"][:, j]).sum())
                rows.append(row)
    # without masks: the contract's columns, no rows
    cols = (
        ["method", "layer"]
        + [f"{m}{s}" for m in ("pointing_game", "relevance_mass") for s in ("", "_ci_low", "_ci_high")]
        + ["n"]
    )
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=cols)


def sanity_table(per: dict, boot: dict) -> pd.DataFrame:
    rows = []
    for method, d in per.items():
        for test in ("cascade", "independent"):
            for k, label in enumerate(d[f"{test}_labels"]):
                for j, layer in enumerate(d["layers"]):
                    rho, ssim = d[f"{test}_spearman"][k, :, j], d[f"{test}_ssim"][k, :, j]
                    row = {
                        "method": method,
                        "layer": str(layer),
                        "test": "cascading" if test == "cascade" else "independent",
                        "randomised": str(label),
                    }
                    row.update(_ci(rho, {**boot, "statistic": np.nanmedian}, "spearman"))
                    if np.isfinite(ssim).any():
                        row.update(_ci(ssim, {**boot, "statistic": np.nanmedian}, "ssim"))
                    row["n"] = int(np.isfinite(rho).sum())
                    rows.append(row)
    return pd.DataFrame(rows)


def data_randomisation_rows(path: str, boot: dict) -> pd.DataFrame:
    """``test = data`` rows (``randomised = labels``) from the data-randomisation stage's similarities."""
    f = np.load(path)
    rows = []
    for method in [str(m) for m in f["methods"]]:
        rho_all, ssim_all = f[f"{method}__spearman"], f[f"{method}__ssim"]
        for j, layer in enumerate(f[f"{method}__layers"]):
            row = {"method": method, "layer": str(layer), "test": "data", "randomised": "labels"}
            row.update(_ci(rho_all[:, j], {**boot, "statistic": np.nanmedian}, "spearman"))
            if np.isfinite(ssim_all[:, j]).any():
                row.update(_ci(ssim_all[:, j], {**boot, "statistic": np.nanmedian}, "ssim"))
            row["n"] = int(np.isfinite(rho_all[:, j]).sum())
            rows.append(row)
    return pd.DataFrame(rows)


def sanity_flags(sanity: pd.DataFrame, threshold: float) -> pd.DataFrame:
    """One row per method and layer: survives full (cascading) model randomisation; with the data
    randomisation test, also ``data_spearman`` (+ interval) and ``survives_data_randomisation``."""
    full = sanity[(sanity["test"] == "cascading") & (sanity["randomised"] == "all")].copy()
    full["survives_full_randomisation"] = full["spearman"] > threshold
    full["threshold"] = threshold
    cols = ["method", "layer", "spearman", "spearman_ci_low", "spearman_ci_high", "threshold"]
    cols += ["survives_full_randomisation", "n"]
    full = full[cols].reset_index(drop=True)
    data = sanity[sanity["test"] == "data"]
    if len(data):
        data = data[["method", "layer", "spearman", "spearman_ci_low", "spearman_ci_high"]].rename(
            columns=lambda c: c if c in ("method", "layer") else f"data_{c}"
        )
        full = full.merge(data, on=["method", "layer"], how="left")
        survives = (full["data_spearman"] > threshold).astype(object)
        full["survives_data_randomisation"] = survives.where(full["data_spearman"].notna(), None)  # not tested: empty
    return full


def deletion_table(per: dict, boot: dict) -> pd.DataFrame:
    rows = []
    for method, d in per.items():
        fr = d["curve_fractions"]
        for j, layer in enumerate(d["layers"]):
            row = {"method": method, "layer": str(layer)}
            for curve in CURVE_DIRECTION:
                row.update(_ci(curve_auc(d[f"curve_{curve}"][:, j], fr), boot, f"{curve}_auc"))
            row["n"] = len(d["curve_deletion"])
            row["steps"] = len(fr) - 1
            rows.append(row)
    return pd.DataFrame(rows)


def drop_tables(per: dict, boot: dict, tolerance: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, images = [], []
    for method, d in per.items():
        r = drop_increase_rows(d["p"], d["p_kept"], tolerance=tolerance)
        strict = drop_increase_rows(d["p"], d["p_kept"], tolerance=0.0)
        for j, layer in enumerate(d["layers"]):
            row = {"method": method, "layer": str(layer), "keep_percent": float(d["keep_percent"])}
            row.update(_ci(r["drop"][:, j], boot, "drop_rate"))
            row.update(_ci(r["increase"][:, j], boot, "increase_rate"))
            row["increase_rate_no_tolerance"] = float(strict["increase"][:, j].mean())
            row.update(increase_tolerance=tolerance, saturated=int(r["saturated"].sum()), n=len(d["p"]))
            rows.append(row)
            images.append(
                pd.DataFrame(
                    {
                        "method": method,
                        "layer": str(layer),
                        "index": d["index"],
                        "target": d["target"],
                        "p": d["p"],
                        "p_kept": d["p_kept"][:, j],
                        "drop": r["drop"][:, j],
                        "gain": r["gain"][:, j],
                    }
                )
            )
    return pd.DataFrame(rows), pd.concat(images, ignore_index=True)


def last_layer_scores(per: dict, tolerance: float) -> dict[str, dict[str, np.ndarray]]:
    """Per method, per-image scores of its last layer (the one compared across methods)."""
    out = {}
    for method, d in per.items():
        r = drop_increase_rows(d["p"], d["p_kept"], tolerance=tolerance)
        s = {"drop": r["drop"][:, -1], "increase": r["increase"][:, -1]}
        for curve in CURVE_DIRECTION:
            s[f"{curve}_auc"] = curve_auc(d[f"curve_{curve}"][:, -1], d["curve_fractions"])
        for m in LOC_METRICS:
            if f"loc_{m}" in d:
                s[m] = d[f"loc_{m}"][:, -1]
        out[method] = s
    return out


def paired_table(per: dict, scores: dict, boot: dict) -> pd.DataFrame:
    rows = []
    for a, b in itertools.combinations(sorted(per), 2):
        ia, ib = per[a]["index"], per[b]["index"]
        common, pa, pb = np.intersect1d(ia, ib, return_indices=True)
        if not len(common):
            continue
        for metric in scores[a]:
            if metric not in scores[b]:
                continue
            va, vb = scores[a][metric], scores[b][metric]
            if "auc" in metric:  # curves cover the first images only
                n = min(len(va), len(vb))
                ca, cb = np.intersect1d(ia[:n], ib[:n], return_indices=True)[1:]
                va, vb = va[ca], vb[cb]
            else:
                va, vb = va[pa], vb[pb]
            rows.append({"method_a": a, "method_b": b, "metric": metric, **paired_difference(va, vb, **boot)})
    return pd.DataFrame(rows)


def seed004_table(per: dict, boot: dict, tolerance: float, accuracy: float, data_kind: str) -> pd.DataFrame:
    rows = []
    reference = data_kind == "mnist1d"
    for method, key, label in (
        ("gradcam", "p_kept", "Grad-CAM (last layer)"),
        ("integrated_gradients", "p_kept", "integrated gradients (ours: sum then ReLU)"),
        ("integrated_gradients", "p_kept_seed004", "integrated gradients (seed 004: black, right Riemann, sum |.|)"),
    ):
        d = per.get(method)
        if d is None or key not in d:
            continue
        r = drop_increase_rows(d["p"], d[key], tolerance=tolerance)
        strict = drop_increase_rows(d["p"], d[key], tolerance=0.0)
        row = {"method": label}
        row.update(_ci(r["drop"][:, -1], boot, "drop_rate"))
        row.update(_ci(strict["increase"][:, -1], boot, "increase_rate"))
        row.update(_ci(r["increase"][:, -1], boot, "increase_rate_tolerance"))
        row.update(accuracy=accuracy, n=len(d["p"]))
        ref = SEED004.get(method) if reference else None
        row.update(
            seed004_drop_rate=ref[0] if ref else np.nan,
            seed004_increase_rate=ref[1] if ref else np.nan,
            seed004_accuracy=SEED004["accuracy"] if reference else np.nan,
        )
        rows.append(row)
    return pd.DataFrame(rows)


def trust_table(scores: dict, flags: pd.DataFrame, boot: dict) -> pd.DataFrame:
    rows = []
    for method, s in scores.items():
        row = {"method": method}
        for metric in (
            "drop",
            "increase",
            "deletion_auc",
            "insertion_auc",
            "relevance_mass",
            "pointing_game",
            "distractor_share",
        ):
            if metric in s:
                est, low, high = bootstrap_ci(s[metric], **boot)
                row[metric] = f"{est:.3f} [{low:.3f}, {high:.3f}]"
        f = flags[flags["method"] == method]
        if len(f):
            row["survives_full_randomisation"] = bool(f["survives_full_randomisation"].iloc[-1])
            row["spearman_full_randomisation"] = round(float(f["spearman"].iloc[-1]), 3)
        rows.append(row)
    return pd.DataFrame(rows)


def run(
    *,
    per_image: list[str],
    explanations: list[str],
    scores: str,
    stats: str,
    data_randomisation: str | list,
    data_kind: str,
    increase_tolerance: float,
    survive_threshold: float,
    n_boot: int,
    confidence: float,
    fill: float,
    seed: int,
    localisation: str,
    sanity: str,
    flags: str,
    deletion: str,
    drop_increase: str,
    per_image_drop: str,
    paired: str,
    seed004: str,
    trust: str,
    curves_figure: str,
    sanity_figure: str,
    sanity_maps_figure: str,
    localisation_figure: str,
    best_worst_figure: str,
    dataset: str,
) -> dict:
    from ..plots import quality as plots_quality

    boot = {"n_boot": n_boot, "confidence": confidence, "seed": seed}
    eda = io.load_json(stats)
    mean, std = eda["mean"], eda["std"]
    per = _load(per_image)
    loc = localisation_table(per, boot)
    san = sanity_table(per, boot)
    if data_randomisation:  # map_quality.sanity.data_randomisation: the shuffled-label model's similarities
        san = pd.concat([san, data_randomisation_rows(data_randomisation, boot)], ignore_index=True)
    flg = sanity_flags(san, survive_threshold)
    dele = deletion_table(per, boot)
    drops, images = drop_tables(per, boot, increase_tolerance)
    last = last_layer_scores(per, increase_tolerance)
    accuracy = float(io.load_json(scores).get("test", {}).get("accuracy", np.nan))
    for path, frame in (
        (localisation, loc),
        (sanity, san),
        (flags, flg),
        (deletion, dele),
        (drop_increase, drops),
        (per_image_drop, images),
        (paired, paired_table(per, last, boot)),
        (seed004, seed004_table(per, boot, increase_tolerance, accuracy, data_kind)),
        (trust, trust_table(last, flg, boot)),
    ):
        io.save_csv(path, frame)
    io.save_figure(plots_quality.deletion_curves(per, boot), curves_figure)
    io.save_figure(plots_quality.sanity_curves(san), sanity_figure)
    io.save_figure(plots_quality.cascading_maps(per, mean, std), sanity_maps_figure)
    io.save_figure(plots_quality.localisation_bars(loc), localisation_figure)
    io.save_figure(plots_quality.best_worst(per, images, explanations, mean, std, fill), best_worst_figure)
    print(loc.to_string(index=False))
    print(flg.to_string(index=False))
    return {"localisation": loc, "flags": flg}
