"""Key findings of one dataset: a ranked method × layer table and what it can and cannot tell apart.

The table is read generically from the per-method CSVs of ``faithfulness/`` (one row per method and
layer) and from any CSV of ``map_quality/`` keyed by ``method, layer``: every numeric column becomes
a metric, and a pair of columns ``<metric>_lo`` / ``<metric>_hi`` becomes that metric's interval.
Tables with several rows per (method, layer) (e.g. the sanity check's cascade over ``randomised``)
contribute the row of the fully randomised model (``randomised == "all"``) when there is one.

Rows are ranked by the drop rate (lower is better), ties broken by the increase rate. Two rows are
called distinguishable only when their drop-rate intervals do not overlap — a conservative check (a
paired interval of the difference is sharper); without intervals the ranking carries no uncertainty
and the sentence says so.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from ..explain.registry import declared

#: Metrics whose direction is known: +1 = higher is better, -1 = lower is better.
DIRECTION = {
    "drop_rate": -1,
    "increase_rate": +1,
    "pointing_game": +1,
    "energy_pointing_game": +1,
    "relevance_mass": +1,
    "relevance_rank": +1,
    "iou": +1,
    "distractor_share": -1,
    "deletion_auc": -1,
    "insertion_auc": +1,
    "spearman": -1,
    "ssim": -1,
}
#: Readable column names for known metrics (others: underscores become spaces).
LABELS = {
    "drop_rate": "drop rate",
    "increase_rate": "increase rate",
    "spearman": "sanity ρ (random model)",
    "ssim": "sanity SSIM (random model)",
}
#: Columns that are keys or settings, not metrics.
NOT_METRICS = {
    "method",
    "layer",
    "layer_index",
    "keep_percent",
    "n",
    "randomised",
    "model",
    "dataset",
    "replicate",
    "seed",
    "target",
    "subset",
}
#: Methods that explain (and are scored on) another model than the dataset's own (registry trait ``explains``).
GAP_METHODS = frozenset(name for name, method in declared().items() if method.explains != "model")
RANK_BY = "drop_rate"
#: The map-quality tables (results/<dataset>/map_quality/<stem>.csv) and metrics the key table shows, each with
#: its interval (``<metric>_ci_low/_ci_high`` there, ``_lo/_hi`` here) when the table has one.
KEY_TABLES = {
    "drop_increase": ["drop_rate", "increase_rate"],
    "deletion": ["deletion_auc", "insertion_auc"],
    "localisation": ["pointing_game", "relevance_mass"],
    "sanity_flags": ["spearman"],
}


def _read(path: Path) -> pd.DataFrame | None:
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError):
        return None
    return frame if {"method", "layer"} <= set(frame.columns) else None


def _one_row_per_key(frame: pd.DataFrame) -> pd.DataFrame:
    if "randomised" in frame.columns and frame.duplicated(["method", "layer"]).any():
        frame = frame[frame["randomised"].astype(str) == "all"]
    return frame.drop_duplicates(["method", "layer"], keep="last")


def metric_columns(frame: pd.DataFrame) -> list[str]:
    """Numeric metric columns (intervals and keys excluded), in file order."""
    out = []
    for col in frame.columns:
        if col in NOT_METRICS or col.endswith(("_lo", "_hi", "_n")) or col.startswith("n_"):
            continue
        if pd.api.types.is_numeric_dtype(frame[col]) and not pd.api.types.is_bool_dtype(frame[col]):
            out.append(col)
    return out


def findings_frame(dataset_dir) -> pd.DataFrame | None:
    """One row per (method, layer): faithfulness joined with map-quality metrics; ``None`` without faithfulness."""
    dataset_dir = Path(dataset_dir)
    parts = [f for p in sorted((dataset_dir / "faithfulness").glob("*.csv")) if (f := _read(p)) is not None]
    if not parts:
        return None
    frame = pd.concat(parts, ignore_index=True).drop_duplicates(["method", "layer"], keep="last")
    frame["layer"] = frame["layer"].astype(str)
    for stem, metrics in KEY_TABLES.items():
        path = dataset_dir / "map_quality" / f"{stem}.csv"
        extra = _read(path) if path.is_file() else None
        if extra is None or extra.empty:
            continue
        extra = _one_row_per_key(extra).rename(columns=lambda c: c.replace("_ci_low", "_lo").replace("_ci_high", "_hi"))
        extra["layer"] = extra["layer"].astype(str)
        keep = [c for m in metrics for c in (m, f"{m}_lo", f"{m}_hi") if c in extra.columns]
        if "n" in extra.columns:
            extra = extra.rename(columns={"n": f"{stem}_n"})
            keep.append(f"{stem}_n")
        frame = frame.drop(columns=[c for c in keep if c in frame.columns])  # the map-quality table has intervals
        frame = frame.merge(extra[["method", "layer", *keep]], on=["method", "layer"], how="left")
    # depth of the layer within its method (1 = shallowest), from the order of the CSV rows
    frame["depth"] = frame.groupby("method").cumcount() + 1
    frame["n_layers"] = frame.groupby("method")["layer"].transform("count")
    if RANK_BY in frame.columns:
        by, asc = [RANK_BY], [True]
        if "increase_rate" in frame.columns:
            by, asc = by + ["increase_rate"], asc + [False]
        frame = frame.sort_values(by, ascending=asc, kind="stable", na_position="last").reset_index(drop=True)
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame


def has_interval(frame: pd.DataFrame, metric: str) -> bool:
    return {f"{metric}_lo", f"{metric}_hi"} <= set(frame.columns) and frame[f"{metric}_lo"].notna().any()


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if isinstance(v, (int,)) or (isinstance(v, float) and v.is_integer() and abs(v) >= 10):
        return str(int(v))
    v = float(v)
    if v != 0 and abs(v) < 0.001:
        return f"{v:.1e}"  # tiny but non-zero: keep it distinguishable from 0
    return f"{v:.3f}"


def _cell(row: Mapping, metric: str, interval: bool) -> str:
    text = _fmt(row.get(metric))
    if interval and text != "–":
        lo, hi = row.get(f"{metric}_lo"), row.get(f"{metric}_hi")
        if lo is not None and hi is not None and not (pd.isna(lo) or pd.isna(hi)):
            text += f" [{_fmt(lo)}, {_fmt(hi)}]"
    return text


def _label(metric: str) -> str:
    text = LABELS.get(metric, metric.replace("_", " "))
    arrow = {+1: " ↑", -1: " ↓"}.get(DIRECTION.get(metric, 0), "")
    return text + arrow


def _pair(row: Mapping) -> str:
    layer = str(row["layer"])
    if layer == "input" or int(row.get("n_layers", 1)) == 1:
        return str(row["method"])
    return f"{row['method']} @ {layer}"


def _overlaps(a: Mapping, b: Mapping, metric: str) -> bool:
    return not (a[f"{metric}_hi"] < b[f"{metric}_lo"] or b[f"{metric}_hi"] < a[f"{metric}_lo"])


def distinguishability(frame: pd.DataFrame, dataset: str) -> str:
    """One sentence: which rows the drop rate tells apart from the best one, and which it does not."""
    if frame is None or frame.empty or RANK_BY not in frame.columns:
        return f"{dataset}: no faithfulness table, so no ranking."
    rows = frame.to_dict("records")
    best = rows[0]
    ns = sorted({int(r["n"]) for r in rows if "n" in r and not pd.isna(r["n"])})
    n_text = ""
    if len(ns) > 1:
        n_text = f" The methods were scored on different numbers of images (n = {ns[0]}–{ns[-1]})."
    if not has_interval(frame, RANK_BY):
        lo, hi = frame[RANK_BY].min(), frame[RANK_BY].max()
        return (
            f"{dataset}: the faithfulness tables carry no intervals, so this ranking carries no uncertainty — "
            f"drop rates span {_fmt(lo)}–{_fmt(hi)} and no difference between two methods can be called "
            f"real from these numbers (e.g. {_pair(best)} ranks first).{n_text}"
        )
    usable = [r for r in rows[1:] if not pd.isna(r.get(f"{RANK_BY}_lo")) and not pd.isna(r.get(f"{RANK_BY}_hi"))]
    tied = [r for r in usable if _overlaps(best, r, RANK_BY)]
    apart = [r for r in usable if not _overlaps(best, r, RANK_BY)]

    def names(rs, limit=4):
        shown = ", ".join(_pair(r) for r in rs[:limit])
        return shown + (f" and {len(rs) - limit} more" if len(rs) > limit else "")

    text = f"{dataset}: {_pair(best)} has the lowest drop rate ({_cell(best, RANK_BY, True)})"
    if tied:
        text += (
            f", but its interval overlaps those of {names(tied)}, so these are not distinguishable from it on this data"
        )
    else:
        text += ", and its interval overlaps no other method's, so it is distinguishably the most faithful"
    if apart:
        text += f"; {names(apart)} {'is' if len(apart) == 1 else 'are'} distinguishably less faithful"
    text += " (95 % intervals; overlap is a conservative test, a paired interval would be sharper)."
    return text + n_text


def findings_table(frame: pd.DataFrame, gap_accuracy: float | None = None, model_accuracy: float | None = None) -> dict:
    """Plain data for the template: header, rows (strings), flags per row and the footnote on flags."""
    metrics = metric_columns(frame.drop(columns=["rank", "depth", "n_layers"], errors="ignore"))
    header = ["rank", "method", "layer"] + [_label(m) for m in metrics]
    n_cols = [c for c in frame.columns if c == "n" or c.endswith("_n")]
    header += ["n" if c == "n" else f"n ({c[:-2].replace('_', ' ')})" for c in n_cols]
    header.append("explains")
    rows, flags = [], []
    for r in frame.to_dict("records"):
        layer = str(r["layer"])
        depth = "" if layer == "input" else f" ({int(r['depth'])}/{int(r['n_layers'])})"
        gap = str(r["method"]) in GAP_METHODS or str(r.get("model", "")) == "model_gap"
        row = [str(int(r["rank"])), str(r["method"]), layer + depth]
        row += [_cell(r, m, has_interval(frame, m)) for m in metrics]
        row += [_fmt(r.get(c)) for c in n_cols]
        row.append("GAP variant ⚑" if gap else "dataset model")
        rows.append(row)
        flags.append(gap)
    note = None
    if any(flags):
        acc = ""
        if gap_accuracy is not None and model_accuracy is not None:
            acc = f" (test accuracy {gap_accuracy:.3f} vs {model_accuracy:.3f} for the dataset's model)"
        note = (
            "⚑ explains a different model: the global-average-pooling variant trained for CAM"
            + acc
            + "; its rows rank how well CAM explains that model, not the dataset's model."
        )
    return {
        "header": header,
        "rows": rows,
        "flags": flags,
        "note": note,
        "numeric": [False, False, False] + [True] * (len(header) - 4) + [False],
    }


__all__ = [
    "DIRECTION",
    "GAP_METHODS",
    "distinguishability",
    "findings_frame",
    "findings_table",
    "has_interval",
    "metric_columns",
]
