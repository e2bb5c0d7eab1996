"""Faithfulness summary: drop and increase rate as small multiples, one panel per method (seed 004 §III-C)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .panels import FONT, new_figure, wrap

#: method panels per row (a figure stays about 1,100 px wide)
PANELS_PER_ROW = 4
DROP, INCREASE = "#d95f02", "#1b9e77"


def faithfulness_bars(df: pd.DataFrame, title: str | None = None) -> Figure:
    """Drop rate (lower is better) and increase rate (higher is better): one panel per method (and
    ``keep_percent``), layers on the x axis in their order of first appearance, both rates on one
    shared [0, 1] axis with their values written on the bars.

    ``df`` columns: method, layer, keep_percent, drop_rate, increase_rate (n optional: shown per panel).
    """
    required = {"method", "layer", "keep_percent", "drop_rate", "increase_rate"}
    missing = required - set(df.columns)
    if missing:
        raise ValueError(f"faithfulness_bars: missing columns {sorted(missing)}")
    if df.empty:
        raise ValueError("faithfulness_bars: empty table")
    df = df.copy()
    df["layer"] = df["layer"].where(df["layer"].notna(), "input").astype(str)
    df["method"] = df["method"].astype(str)
    methods = list(dict.fromkeys(df["method"]))
    keeps = sorted(df["keep_percent"].unique())
    panels = [(m, keep) for keep in keeps for m in methods]
    cols = min(PANELS_PER_ROW, len(panels))
    rows = math.ceil(len(panels) / cols)
    most_layers = int(df.groupby("method")["layer"].nunique().max())
    fig = new_figure((min(11.0, 1.2 + cols * max(2.3, 0.45 * most_layers + 1.0)), 2.7 * rows + 0.9))
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False, sharey=True))
    for ax, (method, keep) in zip(axes.ravel(), panels):
        sub = df[(df["method"] == method) & (df["keep_percent"] == keep)]
        layers = list(dict.fromkeys(sub["layer"]))
        means = sub.groupby("layer", sort=False)[["drop_rate", "increase_rate"]].mean().reindex(layers)
        x = np.arange(len(layers))
        for off, col, colour, label in (
            (-0.2, "drop_rate", DROP, "drop rate (lower is better)"),
            (0.2, "increase_rate", INCREASE, "increase rate (higher is better)"),
        ):
            bars = ax.bar(x + off, means[col].to_numpy(), 0.4, color=colour, label=label)
            ax.bar_label(bars, fmt="%.2f", fontsize=FONT, padding=1, rotation=90 if len(layers) > 3 else 0)
        ax.set_xticks(x)
        ax.set_xticklabels(
            [wrap(layer, 12) for layer in layers],
            fontsize=FONT,
            rotation=30 if len(layers) > 2 else 0,
            ha="right" if len(layers) > 2 else "center",
            rotation_mode="anchor",
        )
        ax.set_ylim(0, 1.25)
        ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
        ax.tick_params(axis="y", labelsize=FONT)
        n = f", n={int(sub['n'].max())}" if "n" in sub and len(sub) else ""
        head = method if len(keeps) == 1 else f"{method}, top {keep:g} %"
        ax.set_title(wrap(head + n, 26), fontsize=9)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    for ax in axes.ravel()[len(panels) :]:
        ax.set_axis_off()
    for ax in axes[:, 0]:
        ax.set_ylabel("rate", fontsize=FONT)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=2, fontsize=FONT)
    keep_txt = (
        f"keeping the top {keeps[0]:g} % most salient inputs"
        if len(keeps) == 1
        else "keeping only the most salient inputs"
    )
    fig.suptitle(title or f"Faithfulness per method and layer: drop / increase rate when {keep_txt}", fontsize=10)
    return fig
