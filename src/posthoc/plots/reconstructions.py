"""DeconvNet reconstructions per layer (seed 000 Figs 11–13)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.figure import Figure

from .panels import FONT, band_grid, check_grid_labels, mark_void, no_ticks, sparse_x_ticks, to_unit, wrap


def _rescale01(a: np.ndarray) -> np.ndarray:
    """Linear rescaling of one reconstruction to [0, 1]; a constant (void) panel becomes zeros."""
    a = np.nan_to_num(np.asarray(a, dtype=np.float64))
    lo, hi = a.min(initial=0.0), a.max(initial=0.0)
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def reconstructions(inputs, recons, row_labels: Sequence[str], col_labels: Sequence[str], title: str) -> Figure:
    """Rows = examples, columns = the input then one reconstruction per layer.

    ``inputs``: display arrays in [0, 1], ``(N, H, W, C)`` images or ``(N, L)`` signals. ``recons``:
    ``(N, n_layers, C, *spatial)`` reconstructions in input units (de-normalised: times the
    per-channel std; the mean is a constant offset that the rescaling removes). A reconstruction is
    an image, not a heat map: each panel is linearly rescaled to [0, 1] on its own (all channels
    together), as the footer says — or, for 1-D signals, drawn as a line on the same [0, 1] axis.
    An all-zero (void) reconstruction is labelled.
    """
    inputs, recons = np.asarray(inputs), np.asarray(recons)
    n, n_layers = recons.shape[:2]
    one_d = recons.ndim == 4
    check_grid_labels("reconstructions", "layers", inputs.shape[0], n, n_layers, row_labels, col_labels)
    pw, ph = (1.9, 1.1) if one_d else (1.4, 1.4)
    # wrap wide grids like the map grids do: at most 3 (signals) or 5 (images) reconstructions abreast
    per_band = 3 if one_d else 5
    n_bands = -(-n_layers // per_band)
    cols = min(n_layers, per_band) + 1
    fig, axes, _ = band_grid(
        n_bands,
        n,
        cols,
        pw,
        ph,
        gap_h=0.3 if one_d else 0.1,
        band_gap=1.0 if one_d else 0.6,
        bottom=1.0 if one_d else 0.55,
        right=0.3,
    )
    for b in range(n_bands):
        for i in range(n):
            for c in range(cols):
                ax, j = axes[b, i, c], b * per_band + c - 1
                if c > 0 and j >= n_layers:
                    ax.set_axis_off()
                    continue
                if c == 0:
                    panel = to_unit(inputs[i])
                else:
                    r = recons[i, j]
                    panel = _rescale01(r[0] if one_d else np.moveaxis(r, 0, -1))
                if one_d:
                    ax.plot(np.arange(panel.shape[0]), panel, color="black" if c == 0 else "tab:blue", lw=1.0)
                    ax.set_yticks([])
                    sparse_x_ticks(ax, last_row=i == n - 1)
                else:
                    img = panel[..., 0] if panel.ndim == 3 and panel.shape[-1] == 1 else panel
                    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
                    no_ticks(ax)
                if c > 0 and not np.abs(recons[i, j]).max(initial=0.0) > 0:
                    mark_void(ax, "void\n(all zero)")
                if i == 0:
                    ax.set_title(wrap(col_labels[0] if c == 0 else col_labels[j + 1], 16), fontsize=FONT)
                if c == 0:
                    ax.set_ylabel(wrap(row_labels[i], 16), fontsize=FONT)
    fig.suptitle(title, y=1 - 0.3 / fig.get_figheight(), fontsize=10)
    # the footer sits below the bottom row's axis labels (its own strip of the bottom margin)
    fig.text(
        0.5,
        0.12 / fig.get_figheight(),
        "each reconstruction de-normalised and rescaled to [0, 1] on its own",
        ha="center",
        va="bottom",
        fontsize=FONT,
        color="dimgray",
    )
    return fig
