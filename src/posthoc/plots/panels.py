"""Shared panel helpers of every figure family: inputs, map overlays, colour maps and bars, map
scaling (with void panels), text wrapping, grids.

Inputs arrive as uint8 or float ``(H, W[, C])`` images (``C`` in {1, 3}) or ``(L,)`` signals; maps as
float arrays of the input's spatial rank (a coarser map is stretched over the input's extent).
Sizes are chosen so that a figure shown at about 1,100 px wide keeps its text at 8 pt or more.
"""

from __future__ import annotations

import math
import textwrap
from typing import Sequence

# No backend is forced here (that would hijack an interactive session that imports this module);
# without a display matplotlib falls back to Agg by itself, and scripts may set MPLBACKEND=Agg.
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

#: perceptually uniform colour map of non-negative maps, and the diverging one of signed maps
SEQUENTIAL = "viridis"
DIVERGING = "RdBu_r"
#: smallest font of any figure text, in points at the figure's own size
FONT = 8
#: how a map is divided before display, and how the colour bar says so
SCALES = {"panel": "its own", "row": "its row's", "column": "its column's"}


# ----------------------------------------------------------------------------------- figures, text
def new_figure(figsize) -> Figure:
    """A pyplot figure (so that notebooks display it) with constrained layout."""
    return plt.figure(figsize=figsize, layout="constrained")


def fixed_grid(
    nrows: int,
    ncols: int,
    pw: float,
    ph: float,
    gap_w: float = 0.15,
    gap_h: float = 0.45,
    left: float = 1.1,
    right: float = 0.2,
    top: float = 0.8,
    bottom: float = 0.5,
    cbar: int = 0,
):
    """A grid of equal panels with margins in inches and no layout engine (big grids draw several
    times faster than with constrained layout). ``cbar`` colour-bar axes are stacked at the right.
    Returns (figure, axes (nrows, ncols), list of colour-bar axes)."""
    extra = 1.1 if cbar else 0.0
    width = left + ncols * pw + (ncols - 1) * gap_w + right + extra
    height = top + nrows * ph + (nrows - 1) * gap_h + bottom
    fig = plt.figure(figsize=(width, height))
    axes = np.asarray(
        fig.subplots(
            nrows,
            ncols,
            squeeze=False,
            gridspec_kw=dict(
                left=left / width,
                right=(width - right - extra) / width,
                bottom=bottom / height,
                top=1 - top / height,
                wspace=gap_w / pw,
                hspace=gap_h / ph,
            ),
        )
    )
    caxes = []
    if cbar:
        avail = height - top - bottom
        h = min(avail / cbar - 0.4, max(1.6, 0.45 * avail / cbar))
        for k in range(cbar):
            y0 = bottom + avail * (cbar - 1 - k) / cbar + (avail / cbar - h) / 2
            caxes.append(fig.add_axes([(width - extra + 0.2) / width, y0 / height, 0.15 / width, h / height]))
    return fig, axes, caxes


def wrap(text, width: int = 18) -> str:
    """Wrap every line of a (multi-line) label on its own; long words are broken."""
    lines = [textwrap.wrap(line, width=width, break_long_words=True) or [line] for line in str(text).split("\n")]
    return "\n".join(part for parts in lines for part in parts)


def flat_labels(labels) -> np.ndarray:
    """MedMNIST labels come as (N, 1); accept (N,) too; multi-label (N, L) labels are kept."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        return labels
    return labels.reshape(len(labels), -1)[:, 0] if labels.ndim > 1 else labels


def class_name(class_names: Sequence[str], label) -> str:
    """The class's name; for a multi-label 0/1 vector, the names of its labels (or "no label")."""
    label = np.asarray(label)
    if label.ndim == 1 and label.size == len(class_names) and label.size > 1:
        return ", ".join(str(n) for n, v in zip(class_names, label) if v) or "no label"
    i = int(label)
    return str(class_names[i]) if 0 <= i < len(class_names) else str(i)


def is_signal(samples) -> bool:
    """True for 1-D data: (N, L) arrays (or a single (L,) sample)."""
    return np.asarray(samples).ndim <= 2


def grid_shape(n: int, max_cols: int | None = None) -> tuple[int, int]:
    """Rows and columns of a near-square grid; with ``max_cols``, prefer a count that fills the last row."""
    cols = max(1, math.ceil(math.sqrt(n)))
    if max_cols:
        cols = min(cols, max_cols)
        exact = [c for c in range(cols, max_cols + 1) if n % c == 0]
        if exact:
            cols = exact[0]
    return max(1, math.ceil(n / cols)), cols


def message_figure(text: str, title: str) -> Figure:
    """A small figure that says why there is nothing to show (a contracted figure is never missing)."""
    fig = new_figure((6, 1.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11)
    ax.set_axis_off()
    fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------------------ inputs
def to_unit(x) -> np.ndarray:
    """One input as float in [0, 1]: uint8 / 255; floats outside [0, 1] are min-max scaled."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255.0
    x = np.nan_to_num(x.astype(np.float64))
    if x.size and (x.min() < 0 or x.max() > 1):
        lo, hi = x.min(), x.max()
        x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return x


def grayscale(img: np.ndarray) -> np.ndarray:
    img = np.asarray(img)
    if img.ndim == 3:
        return img @ np.array([0.299, 0.587, 0.114]) if img.shape[-1] == 3 else img[..., 0]
    return img


def rgb(img) -> np.ndarray:
    """An image as float RGB in [0, 1] (greyscale repeated)."""
    img = to_unit(img)
    img = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
    return np.stack([img] * 3, axis=-1) if img.ndim == 2 else img


def no_ticks(ax) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def draw_input(ax, x, alpha: float = 1.0, extent=None) -> None:
    """One input on ``ax``: an image (greyscale or RGB, [0, 1] after :func:`to_unit`) or a signal line."""
    x = np.asarray(x)
    if x.ndim == 1:
        ax.plot(np.arange(x.shape[0]), x, color="black", lw=1.0)
        ax.set_xlim(-0.5, max(x.shape[0] - 0.5, 0.5))
        ax.tick_params(labelsize=FONT)
        return
    img = to_unit(x)
    img = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
    ax.imshow(
        img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest", alpha=alpha, extent=extent
    )
    no_ticks(ax)


def blank(ax) -> None:
    """An empty panel that keeps its axis labels (row labels live on the first column)."""
    no_ticks(ax)
    for spine in ax.spines.values():
        spine.set_visible(False)


def sparse_x_ticks(ax, last_row: bool, label: str = "position") -> None:
    """1-D panels: a few position ticks on the bottom row only (tick layout dominates drawing time)."""
    if last_row:
        ax.xaxis.set_major_locator(plt.MaxNLocator(4, integer=True))
        ax.tick_params(axis="x", labelsize=FONT)
        ax.set_xlabel(label, fontsize=FONT)
    else:
        ax.set_xticks([])


# -------------------------------------------------------------------------------------------- maps
def map_cmap(signed: bool):
    return plt.get_cmap(DIVERGING if signed else SEQUENTIAL)


def map_norm(signed: bool) -> Normalize:
    """Maps are shown divided by their scale: [0, 1] (non-negative) or [-1, 1] centred at 0 (signed)."""
    return Normalize(-1.0 if signed else 0.0, 1.0)


def scale_maps(maps, signed, scale: str = "panel"):
    """Divide maps ``(N, K, *spatial)`` by a shared or per-panel scale for display.

    ``signed``: a bool or an array broadcastable to (N, K) (e.g. one flag per column of methods).
    Non-negative maps are divided by the max of their group (negative values, which such a map should
    not have, are shown as 0); signed maps by the max |value| of their group, keeping 0 at the centre.
    ``scale``: ``"panel"`` (each map on its own), ``"row"`` (shared along K) or ``"column"`` (shared
    along N). Returns ``(shown, void, denominators)``: ``void`` (N, K) marks maps without any positive
    value (no evidence for the target), which are drawn as they are (0 or faint) and labelled.
    Non-finite values count as 0.
    """
    if scale not in SCALES:
        raise ValueError(f"scale must be one of {sorted(SCALES)}, got {scale!r}")
    m = np.nan_to_num(np.asarray(maps, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    n, k = m.shape[:2]
    signed = np.broadcast_to(np.asarray(signed, dtype=bool), (n, k))
    flat = m.reshape(n, k, -1)
    pos = flat.max(axis=2, initial=0.0)
    size = np.where(signed, np.abs(flat).max(axis=2, initial=0.0), pos)
    if scale == "row":
        size = np.broadcast_to(size.max(axis=1, keepdims=True), (n, k))
    elif scale == "column":
        size = np.broadcast_to(size.max(axis=0, keepdims=True), (n, k))
    extra = (1,) * (m.ndim - 2)
    den = np.where(size > 0, size, 1.0).reshape(n, k, *extra)
    lo = np.where(signed, -np.inf, 0.0).reshape(n, k, *extra)
    shown = np.clip(m, lo, None) / den
    return shown, ~(pos > 0), size


def mark_void(ax, text: str = "void\n(no positive value)") -> None:
    ax.text(
        0.5,
        0.5,
        text,
        transform=ax.transAxes,
        ha="center",
        va="center",
        fontsize=FONT,
        color="black",
        bbox=dict(boxstyle="round,pad=0.2", fc="white", ec="0.5", alpha=0.85),
    )


def overlay(
    ax, x, m=None, signed: bool = False, one_d: bool | None = None, alpha: float = 0.55, interpolation: str = "bilinear"
) -> None:
    """One input with one display-scaled map over it (``m=None``: the input alone).

    Images: the map is drawn semi-transparently over the greyscale input. Signals: the map is a heat
    strip behind the signal line. ``m`` is already scaled (see :func:`scale_maps`)."""
    x = to_unit(x)
    one_d = x.ndim == 1 if one_d is None else one_d
    cmap, norm = map_cmap(signed), map_norm(signed)
    if one_d:
        length = x.shape[0]
        lo, hi = float(x.min(initial=0.0)), float(x.max(initial=1.0))
        pad = 0.08 * (hi - lo if hi > lo else 1.0)
        if m is not None:
            ax.imshow(
                np.asarray(m)[None, :],
                extent=(-0.5, length - 0.5, lo - pad, hi + pad),
                aspect="auto",
                cmap=cmap,
                norm=norm,
                alpha=0.85,
                interpolation="nearest",
                origin="lower",
            )
        ax.plot(np.arange(length), x, color="black", lw=1.0)
        ax.set_xlim(-0.5, length - 0.5)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=FONT)
        return
    h, w = x.shape[:2]
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    if m is None:
        draw_input(ax, x, extent=extent)
        return
    ax.imshow(grayscale(x), cmap="gray", vmin=0, vmax=1, interpolation="nearest", extent=extent)
    ax.imshow(np.asarray(m), cmap=cmap, norm=norm, alpha=alpha, interpolation=interpolation, extent=extent)
    ax.set_xlim(extent[0], extent[1])
    ax.set_ylim(extent[2], extent[3])
    no_ticks(ax)


def scale_label(signed: bool, scale: str) -> str:
    what = "max |map|" if signed else "max map"
    if scale == "panel":
        return f"map ÷ {what} (each panel on its own scale)"
    return f"map ÷ {what} of {SCALES[scale][:-2]}"


def map_colorbars(fig, signed_flags, scale: str, cax=None, ax=None, **kw) -> list:
    """One colour bar per display kind present (sequential, diverging), labelled with the scale used.

    ``cax``: a list of colour-bar axes (one per kind present), or ``None`` to steal room from ``ax``."""
    kinds = sorted({bool(s) for s in np.ravel(signed_flags)})
    bars = []
    for i, signed in enumerate(kinds):
        mappable = ScalarMappable(norm=map_norm(signed), cmap=map_cmap(signed))
        cbar = fig.colorbar(mappable, cax=cax[i], **kw) if cax is not None else fig.colorbar(mappable, ax=ax, **kw)
        cbar.set_label(scale_label(signed, scale) + (" (signed)" if signed else ""), fontsize=FONT)
        cbar.ax.tick_params(labelsize=FONT)
        bars.append(cbar)
    return bars


def class_colours(n_classes: int):
    """A qualitative colour map and its boundary norm for class indices 0..n-1."""
    from matplotlib.colors import BoundaryNorm, ListedColormap

    base = plt.get_cmap("tab10" if n_classes <= 10 else "tab20")
    cmap = ListedColormap([base(i % base.N) for i in range(n_classes)])
    return cmap, BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)


def check_grid_labels(
    figure: str, what: str, n_inputs: int, n: int, n_cols: int, row_labels: Sequence[str], col_labels: Sequence[str]
) -> None:
    """An input-then-maps grid of n rows × n_cols maps needs n inputs and row labels, n_cols + 1 column labels."""
    if len(col_labels) != n_cols + 1 or len(row_labels) != n or n_inputs != n:
        raise ValueError(
            f"{figure}: {n} rows × {n_cols} {what} need {n} inputs and row labels and "
            f"{n_cols + 1} column labels (input + {what})"
        )


def band_grid(
    n_bands: int,
    rows: int,
    cols: int,
    pw: float,
    ph: float,
    gap_w: float = 0.1,
    gap_h: float = 0.12,
    band_gap: float = 0.6,
    left: float = 1.3,
    right: float = 0.15,
    top: float = 0.9,
    bottom: float = 0.5,
    cbar: int = 0,
    block: int = 0,
    block_gap: float = 0.35,
    head_gap: float = 0.0,
):
    """Equal panels in ``n_bands`` bands stacked vertically (a wide grid wrapped into readable widths),
    each band ``rows`` × ``cols``; ``band_gap`` inches above every band but the first leave room for its
    column titles; with ``block``, every ``block`` columns are separated by ``block_gap`` more inches;
    ``head_gap`` more inches below the first row of every band (room for the next row's titles).
    No layout engine (fast for big grids). Returns (figure, axes (n_bands, rows, cols), colour-bar axes)."""
    extra = 1.2 if cbar else 0.0
    n_blocks = math.ceil(cols / block) if block else 1
    width = left + cols * pw + (cols - 1) * gap_w + (n_blocks - 1) * block_gap + right + extra
    band_h = rows * ph + (rows - 1) * gap_h + (head_gap if rows > 1 else 0.0)
    height = top + n_bands * band_h + (n_bands - 1) * band_gap + bottom
    fig = plt.figure(figsize=(width, height))
    axes = np.empty((n_bands, rows, cols), dtype=object)
    for b in range(n_bands):
        for r in range(rows):
            y_top = top + b * (band_h + band_gap) + r * (ph + gap_h) + (head_gap if r > 0 else 0.0)
            for c in range(cols):
                x0 = left + c * (pw + gap_w) + (c // block if block else 0) * block_gap
                axes[b, r, c] = fig.add_axes([x0 / width, 1 - (y_top + ph) / height, pw / width, ph / height])
    caxes = []
    if cbar:
        avail = height - top - bottom
        h = min(avail / cbar - 0.5, max(1.5, 0.45 * avail / cbar), 3.5)
        for k in range(cbar):
            y0 = bottom + avail * (cbar - 1 - k) / cbar + (avail / cbar - h) / 2
            caxes.append(fig.add_axes([(width - extra + 0.25) / width, y0 / height, 0.15 / width, h / height]))
    return fig, axes, caxes
