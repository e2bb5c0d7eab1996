"""Robustness figure (seed 001 Figs 3.8–3.10): one degradation at increasing levels, with the
evaluation-set curves below on an x axis that runs the same way as the image strip."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .panels import FONT, map_colorbars, mark_void, new_figure, overlay, scale_maps, wrap


def robustness_levels(
    kind: str,
    levels: Sequence[float],
    inputs: np.ndarray,
    maps_top: np.ndarray,
    maps_original: np.ndarray,
    top_titles: Sequence[str],
    original_titles: Sequence[str],
    summary: pd.DataFrame,
    title: str,
    *,
    signed: bool,
) -> Figure:
    """Top: one column per level (in the given order); rows = degraded input, the map for the top
    class at that level, the map for the original class. Each map row shares one scale (so that a
    map fading with the degradation shows), stated in the row label and the colour bar. Bottom:
    accuracy / mean confidence and the maps' mean rank correlation with the clean maps against the
    level (``summary`` rows of this degradation), the x axis running in the strip's direction.
    """
    n = len(levels)
    one_d = np.ndim(inputs) == 2
    fig = new_figure((min(11.0, max(2.0 * n, 8.0) + 1.2), (1.3 if one_d else 1.9) * 3 + 3.4))
    top_fig, bottom_fig = fig.subfigures(2, 1, height_ratios=[2.2 if one_d else 3.0, 1.6])
    axes = np.asarray(top_fig.subplots(3, n, squeeze=False))
    maps = np.stack([np.asarray(maps_top), np.asarray(maps_original)])  # (2, n, *spatial): rows share a scale
    shown, void, size = scale_maps(maps, signed, "row")
    lo, hi = float(np.min(inputs)), float(np.max(inputs))
    for j in range(n):
        for i, head in enumerate((f"{kind} = {levels[j]:g}", top_titles[j], original_titles[j])):
            ax = axes[i, j]
            m = None if i == 0 else shown[i - 1, j]
            if one_d:  # one y range for every level, so that the degradation itself shows
                overlay(ax, np.asarray(inputs[j], dtype=float), m, signed, one_d=True)
                ax.set_ylim(lo, hi)
                ax.tick_params(labelsize=FONT)
                if i < 2:
                    ax.set_xticklabels([])
            else:
                overlay(ax, inputs[j], m, signed)
            if i > 0 and void[i - 1, j]:
                mark_void(ax, "void")
            ax.set_title(wrap(head, 20), fontsize=FONT)
    for i, lab in enumerate(("input", "Grad-CAM,\ntop class", "Grad-CAM,\noriginal class")):
        axes[i, 0].set_ylabel(lab + (f"\n(÷ {size[i - 1, 0]:.2g})" if i else ""), fontsize=FONT)
    map_colorbars(top_fig, [signed], "row", ax=axes[1:].ravel().tolist(), shrink=0.8)
    ax1, ax2 = bottom_fig.subplots(1, 2)
    lv = summary["level"].to_numpy()
    ax1.plot(lv, summary["accuracy"], marker="o", label="accuracy")
    ax1.plot(lv, summary["mean_confidence"], marker="s", label="mean confidence (top class)")
    ax1.plot(lv, summary["mean_p_original"], marker="^", label="mean p(original class)")
    ax1.set_ylim(-0.02, 1.02)
    ax1.set_ylabel("fraction / probability")
    ax2.plot(lv, summary["rank_corr_top"], marker="o", label="top-class map")
    ax2.plot(lv, summary["rank_corr_original"], marker="s", label="original-class map")
    low = float(np.nanmin(summary[["rank_corr_top", "rank_corr_original"]].to_numpy(), initial=0))
    ax2.set_ylim(min(-0.05, low), 1.05)
    ax2.set_ylabel("Spearman ρ with clean map")
    descending = n > 1 and levels[0] > levels[-1]
    for ax, t in ((ax1, "Predictions (evaluation set)"), (ax2, "Map stability (evaluation set)")):
        ax.set_xlabel(f"{kind} level" + (" (decreasing, as in the strip above)" if descending else ""))
        ax.set_title(t, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT)
        if descending:
            ax.invert_xaxis()
    fig.suptitle(title, fontsize=10)
    return fig
