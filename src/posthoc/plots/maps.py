"""Map grids: one method's maps per layer (rows = examples), and the cross-method grids (comparison,
one image explained for every class). Each map is drawn over its input on a stated scale."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from .panels import (
    FONT,
    band_grid,
    check_grid_labels,
    map_colorbars,
    mark_void,
    overlay,
    scale_maps,
    sparse_x_ticks,
    wrap,
)

#: most map columns side by side before the grid wraps into another band (~1,100 px wide figures)
MAX_COLS_2D, MAX_COLS_1D = 5, 4


def map_grid(
    inputs,
    maps,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    *,
    signed,
    scale: str = "panel",
    overlay_input: bool = True,
    max_cols: int | None = None,
) -> Figure:
    """Rows = examples (or methods), columns = the input then one map each, drawn over the input.

    ``inputs``: (N, ...) display arrays (images (N, H, W[, C]) or signals (N, L)); ``maps``:
    (N, K, *spatial). ``signed``: a bool or an array broadcastable to (N, K) — signed maps are drawn
    on a diverging scale centred at 0. ``scale``: ``"panel"``, ``"row"`` or ``"column"`` — which maps
    share one divisor (see :func:`posthoc.plots.panels.scale_maps`); a shared divisor is written in
    the row label or column title, and the colour bar says which was used. More than ``max_cols``
    map columns wrap into bands below each other (each band repeats the input column). Panels with
    no positive value are labelled "void".
    """
    inputs, maps = np.asarray(inputs), np.asarray(maps)
    if maps.ndim not in (3, 4):
        raise ValueError(f"maps must be (N, K, H, W) or (N, K, L), got shape {maps.shape}")
    n, k = maps.shape[:2]
    one_d = maps.ndim == 3
    check_grid_labels("map_grid", "maps", inputs.shape[0], n, k, row_labels, col_labels)
    if one_d and inputs.ndim != 2:
        raise ValueError(f"1-D maps need (N, L) inputs, got shape {inputs.shape}")
    if not one_d and inputs.ndim not in (3, 4):
        raise ValueError(f"2-D maps need (N, H, W[, C]) inputs, got shape {inputs.shape}")
    flags = np.broadcast_to(np.asarray(signed, dtype=bool), (n, k))
    shown, void, size = scale_maps(maps, flags, scale)
    per_band = max_cols or (MAX_COLS_1D if one_d else MAX_COLS_2D)
    n_bands = math.ceil(k / per_band)
    cols = min(k, per_band) + 1
    pw, ph = (1.6, 1.1) if one_d else (1.3, 1.3)
    fig, axes, caxes = band_grid(
        n_bands,
        n,
        cols,
        pw,
        ph,
        gap_h=0.32 if one_d else 0.1,
        band_gap=1.0 if one_d else 0.75,
        bottom=0.65 if one_d else 0.3,
        cbar=len(set(flags.ravel().tolist())),
    )
    for b in range(n_bands):
        for i in range(n):
            label = row_labels[i] + (f"\n(÷ {size[i, 0]:.2g})" if scale == "row" else "")
            for c in range(cols):
                ax, j = axes[b, i, c], b * per_band + c - 1
                if c > 0 and j >= k:
                    ax.set_axis_off()
                    continue
                if c == 0:
                    overlay(ax, inputs[i], None, one_d=one_d)
                    ax.set_ylabel(wrap(label, 22), fontsize=FONT)
                elif overlay_input:
                    overlay(ax, inputs[i], shown[i, j], bool(flags[i, j]), one_d)
                else:
                    overlay(
                        ax,
                        np.zeros_like(inputs[i], dtype=float) if one_d else np.ones(inputs[i].shape[:2]),
                        shown[i, j],
                        bool(flags[i, j]),
                        one_d,
                        alpha=1.0,
                    )
                if c > 0 and void[i, j]:
                    mark_void(ax, "void" if one_d else "void\n(nothing > 0)")
                if one_d:
                    sparse_x_ticks(ax, last_row=i == n - 1)
                if i == 0:
                    head = col_labels[0] if c == 0 else col_labels[j + 1]
                    head += f"\n(÷ {size[0, j]:.2g})" if scale == "column" and c > 0 else ""
                    ax.set_title(wrap(head, 16), fontsize=FONT)
    map_colorbars(fig, flags, scale, cax=caxes)
    fig.suptitle(title, y=1 - 0.3 / fig.get_figheight(), fontsize=10)
    return fig


def layer_maps(
    inputs,
    maps,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    *,
    signed: bool,
    overlay: bool = True,
    scale: str = "panel",
) -> Figure:
    """One method's figure: rows = examples, columns = the input then one map per layer.

    ``inputs``: float in [0, 1], ``(N, H, W[, C])`` images or ``(N, L)`` signals; ``maps``:
    ``(N, n_layers, H, W)`` or ``(N, n_layers, L)`` (a coarser map is stretched over the input's
    extent); ``col_labels``: ``n_layers + 1`` entries, the first for the input column. The layers of
    one method differ in magnitude by orders, so maps are scaled per panel by default (stated in the
    colour bar). ``overlay=False`` draws the maps alone. See :func:`map_grid`.
    """
    return map_grid(inputs, maps, row_labels, col_labels, title, signed=signed, scale=scale, overlay_input=overlay)
