"""Figures of what the network learned: feature maps, class × channel means, filters, max-activating
patches, feature visualisations and DeepDream. Drawing only; 2-D images and 1-D signals alike.

Every function returns a figure; the stage saves it with :func:`posthoc.io.save_figure`.
"""

from __future__ import annotations

import math
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .panels import fixed_grid

MAX_WIDTH_IN = 21.0  # 2300 px at the report's 110 dpi


def _panel_size(n_cols: int, want: float, left: float = 1.4) -> float:
    return max(0.55, min(want, (MAX_WIDTH_IN - left - 0.4) / max(n_cols, 1) - 0.12))


def _signal_ticks(ax, last_row: bool) -> None:
    """Few ticks on line panels: the value axis unlabelled, positions on the bottom row (ticks dominate drawing)."""
    ax.set_yticks([])
    if last_row:
        ax.xaxis.set_major_locator(plt.MaxNLocator(3, integer=True))
        ax.tick_params(labelsize=7)
    else:
        ax.set_xticks([])


def _draw(ax, cell, colours=None, labels=None, last_row: bool = False) -> None:
    """One panel: an image (H, W[, C]) in [0, 1], a signal (L,), or a list of signals overlaid."""
    if cell is None:
        ax.axis("off")
        return
    if isinstance(cell, (list, tuple)):
        for j, sig in enumerate(cell):
            ax.plot(
                np.arange(len(sig)),
                sig,
                lw=1.0,
                color=(colours or ["0.55", "C3", "C0"])[j % 3],
                label=labels[j] if labels else None,
            )
        _signal_ticks(ax, last_row)
        return
    cell = np.asarray(cell)
    if cell.ndim == 1:
        ax.plot(np.arange(len(cell)), cell, lw=1.0, color="black")
        _signal_ticks(ax, last_row)
        return
    if cell.ndim == 3 and cell.shape[-1] == 1:
        cell = cell[..., 0]
    if cell.ndim == 2:
        ax.imshow(np.ma.masked_invalid(cell), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    else:
        ax.imshow(np.nan_to_num(cell, nan=0.5), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def panel_grid(
    cells: Sequence[Sequence],
    row_labels: Sequence[str],
    titles: Sequence[Sequence[str]] | None,
    title: str,
    col_labels: Sequence[str] | None = None,
    panel: float = 1.4,
    legend: Sequence[str] | None = None,
) -> Figure:
    """Rows × columns of panels (images, signals or overlaid signals), each with an optional title."""
    nrows, ncols = len(cells), max(len(r) for r in cells)
    signal = any(c is not None and (isinstance(c, (list, tuple)) or np.asarray(c).ndim == 1) for r in cells for c in r)
    pw = _panel_size(ncols, 2.0 if signal else panel)
    ph = pw * (0.6 if signal else 1.0)
    fig, axes, _ = fixed_grid(
        nrows, ncols, pw, ph, gap_w=0.3 if signal else 0.12, gap_h=0.45, left=1.4, top=0.9 + 0.15 * (title.count("\n"))
    )
    for i in range(nrows):
        for j in range(ncols):
            ax = axes[i, j]
            cell = cells[i][j] if j < len(cells[i]) else None
            _draw(ax, cell, labels=legend, last_row=i == nrows - 1)
            if titles is not None and j < len(titles[i]) and titles[i][j]:
                ax.set_title(titles[i][j], fontsize=8)
            if i == 0 and col_labels is not None and j < len(col_labels):
                ax.set_title(
                    (
                        col_labels[j]
                        + ("\n" + titles[i][j] if titles is not None and j < len(titles[i]) and titles[i][j] else "")
                    ),
                    fontsize=8,
                )
        if row_labels[i]:
            axes[i, 0].set_ylabel(row_labels[i], fontsize=8, rotation=0, ha="right", va="center")
    if legend:
        handles, names = axes[0, 0].get_legend_handles_labels()
        if handles:
            fig.legend(handles, names, loc="upper right", fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=10)
    return fig


def mosaic(maps: np.ndarray) -> np.ndarray:
    """Feature maps (m, *spatial) → one panel: 2-D maps tiled in a square grid, 1-D maps stacked as rows.

    Each map is rescaled to [0, 1] on its own; NaN separates the tiles (drawn blank).
    """
    maps = np.asarray(maps, dtype=np.float64)
    lo = np.nanmin(maps.reshape(len(maps), -1), 1).reshape(-1, *[1] * (maps.ndim - 1))
    hi = np.nanmax(maps.reshape(len(maps), -1), 1).reshape(-1, *[1] * (maps.ndim - 1))
    maps = np.where(hi > lo, (maps - lo) / np.where(hi > lo, hi - lo, 1), 0.0)
    if maps.ndim == 2:
        return maps
    m, h, w = maps.shape
    side = math.ceil(math.sqrt(m))
    rows = math.ceil(m / side)
    out = np.full((rows * (h + 1) - 1, side * (w + 1) - 1), np.nan)
    for t in range(m):  # a handful of tiles per panel
        r, c = divmod(t, side)
        out[r * (h + 1) : r * (h + 1) + h, c * (w + 1) : c * (w + 1) + w] = maps[t]
    return out


def feature_maps(
    inputs: np.ndarray,
    maps: Sequence[np.ndarray],
    channels: Sequence[np.ndarray],
    row_labels: Sequence[str],
    layers: Sequence[str],
    title: str,
) -> Figure:
    """Rows = one example per class; columns = the input, then per layer its most active channels (seed 002 §A).

    ``maps[l]`` is (examples, m, *spatial) and ``channels[l]`` (examples, m) the channel numbers.
    """
    n, nl = len(inputs), len(maps)
    signal = np.asarray(inputs).ndim == 2
    pw = _panel_size(nl + 1, 1.5)
    ph = pw * (0.6 if signal else 1.0)
    fig, axes, (cax,) = fixed_grid(n, nl + 1, pw, ph, gap_w=0.15, gap_h=0.45, left=1.4, cbar=1)
    for i in range(n):
        _draw(axes[i, 0], inputs[i], last_row=i == n - 1)
        axes[i, 0].set_ylabel(row_labels[i], fontsize=8, rotation=0, ha="right", va="center")
        for l in range(nl):
            ax = axes[i, l + 1]
            im = ax.imshow(
                np.ma.masked_invalid(mosaic(maps[l][i])),
                cmap="viridis",
                vmin=0,
                vmax=1,
                aspect="auto" if signal else "equal",
                interpolation="nearest",
            )
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title("ch " + ",".join(str(int(c)) for c in channels[l][i]), fontsize=7)
            if i == 0:
                ax.set_title(f"{layers[l]}\nch " + ",".join(str(int(c)) for c in channels[l][i]), fontsize=8)
    axes[0, 0].set_title("input", fontsize=8)
    fig.colorbar(im, cax=cax).set_label("activation (each map scaled to its own range)", fontsize=8)
    fig.suptitle(title, fontsize=10)
    return fig


def class_channel_heatmap(class_mean: np.ndarray, class_names: Sequence[str], layer: str, title: str) -> Figure:
    """Mean activation of every channel (columns) for every class (rows), each channel scaled to its own range."""
    c, k = class_mean.shape
    lo, hi = class_mean.min(1, keepdims=True), class_mean.max(1, keepdims=True)
    scaled = np.where(hi > lo, (class_mean - lo) / np.where(hi > lo, hi - lo, 1), 0.0)
    fig = plt.figure(figsize=(min(MAX_WIDTH_IN, 2.5 + 0.14 * c), 1.6 + 0.32 * k), layout="constrained")
    ax = fig.add_subplot()
    im = ax.imshow(scaled.T, cmap="viridis", aspect="auto", interpolation="nearest", vmin=0, vmax=1)
    ax.set_yticks(range(k), [str(n) for n in class_names], fontsize=8)
    ax.set_xlabel(f"channel of {layer}", fontsize=9)
    ax.set_ylabel("class", fontsize=9)
    fig.colorbar(im, ax=ax, fraction=0.03).set_label(
        "class mean of the channel's spatial mean\n(per channel, 0 = lowest class, 1 = highest)", fontsize=8
    )
    ax.set_title(title, fontsize=10)
    return fig


def filters(weights: np.ndarray, layer: str, title: str) -> Figure:
    """First-layer kernels: RGB (or grey) tiles normalised per filter for 2-D, line plots for 1-D (seed 002)."""
    w = np.asarray(weights, dtype=np.float64)
    n = len(w)
    cols = min(n, 16)
    rows = math.ceil(n / cols)
    if w.ndim == 3:  # (out, in, k): one panel per filter, one line per input channel
        cells = [[list(w[r * cols + j]) if r * cols + j < n else None for j in range(cols)] for r in range(rows)]
        titles = [[f"{r * cols + j}" if r * cols + j < n else "" for j in range(cols)] for r in range(rows)]
        return panel_grid(
            cells, [""] * rows, titles, f"{title}\n{layer}: kernel weights per input channel (x = tap)", panel=1.2
        )
    flat = w.reshape(n, -1)
    lo, hi = flat.min(1).reshape(-1, 1, 1, 1), flat.max(1).reshape(-1, 1, 1, 1)
    tiles = np.where(hi > lo, (w - lo) / np.where(hi > lo, hi - lo, 1), 0.5).transpose(0, 2, 3, 1)
    if tiles.shape[-1] not in (1, 3):
        tiles = tiles.mean(-1, keepdims=True)
    cells = [[tiles[r * cols + j] if r * cols + j < n else None for j in range(cols)] for r in range(rows)]
    titles = [[f"{r * cols + j}" if r * cols + j < n else "" for j in range(cols)] for r in range(rows)]
    return panel_grid(
        cells,
        [""] * rows,
        titles,
        f"{title}\n{layer}: weights as images, each filter scaled to its own range",
        panel=0.9,
    )


def top_patches(
    patches: Sequence[np.ndarray],
    values: Sequence[np.ndarray],
    channels: Sequence[np.ndarray],
    layers: Sequence[str],
    fields: Sequence[Sequence[int]],
    title: str,
) -> Figure:
    """Rows = (layer, channel), columns = its top-k patches (receptive field around the argmax), with values."""
    cells, titles, labels = [], [], []
    for l, layer in enumerate(layers):
        for ci, c in enumerate(channels[l]):
            cells.append(list(patches[l][ci]))
            titles.append([f"{v:.2f}" for v in values[l][ci]])
            labels.append(f"{layer}\nch {int(c)}\nfield {'×'.join(map(str, fields[l]))}")
    return panel_grid(cells, labels, titles, title, panel=1.0)
