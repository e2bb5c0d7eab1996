"""Figures for the study (matplotlib, Agg-safe). Drawing only: nothing here computes a metric.

Every function returns a :class:`matplotlib.figure.Figure`; the caller saves it with
:func:`posthoc.io.save_figure` (which also closes it).

Display conventions
-------------------
* Images arrive as uint8 ``(N, H, W, C)`` with ``C`` in {1, 3}; 1-D signals as float ``(N, L)``.
  A 1-D sample is drawn as a line plot (x = position).
* Explanation maps are normalised *per panel* for display only (see :func:`normalise_for_display`);
  the absolute scale between panels is therefore not comparable, which the colourbar label says.
"""
from __future__ import annotations

import math
import textwrap
from typing import Mapping, Sequence

# No backend is forced here (that would hijack an interactive session that imports this module);
# without a display matplotlib falls back to Agg by itself, and scripts may set MPLBACKEND=Agg.
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure

__all__ = [
    "sample_grid",
    "class_distribution",
    "one_per_class",
    "training_curves",
    "confusion_matrix",
    "roc_curves",
    "layer_maps",
    "faithfulness_bars",
    "normalise_for_display",
]

_DIVERGING_DEFAULT = "RdBu_r"


# --------------------------------------------------------------------------------------- helpers
def _new_figure(figsize) -> Figure:
    # pyplot figure (not a bare Figure) so notebooks display it; callers close via save_figure.
    return plt.figure(figsize=figsize, layout="constrained")


def _flat_labels(labels) -> np.ndarray:
    """MedMNIST labels come as (N, 1); accept (N,) too."""
    labels = np.asarray(labels)
    return labels.reshape(len(labels), -1)[:, 0] if labels.ndim > 1 else labels


def _class_name(class_names: Sequence[str], label) -> str:
    i = int(label)
    return str(class_names[i]) if 0 <= i < len(class_names) else str(i)


def _is_signal(samples: np.ndarray) -> bool:
    """True for 1-D data: (N, L) arrays (or a single (L,) sample)."""
    return np.asarray(samples).ndim <= 2


def _wrap(text: str, width: int = 18) -> str:
    return "\n".join(textwrap.wrap(str(text), width=width, break_long_words=True)) or str(text)


def _draw_sample(ax, sample: np.ndarray) -> None:
    """Draw one image (H, W[, C]) or one signal (L,) on ``ax``."""
    sample = np.asarray(sample)
    if sample.ndim == 1:
        ax.plot(np.arange(sample.shape[0]), sample, color="black", lw=1.0)
        ax.set_xlim(0, max(sample.shape[0] - 1, 1))
        ax.tick_params(labelsize=6)
        return
    if sample.ndim == 3 and sample.shape[-1] == 1:
        sample = sample[..., 0]
    if sample.ndim == 2:
        vmax = 255 if sample.dtype == np.uint8 else None
        ax.imshow(sample, cmap="gray", vmin=0 if vmax else None, vmax=vmax, interpolation="nearest")
    else:
        ax.imshow(sample, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def _grid_shape(n: int, max_cols: int | None = None) -> tuple[int, int]:
    cols = max(1, math.ceil(math.sqrt(n)))
    if max_cols:
        cols = min(cols, max_cols)
        # prefer a column count that fills the last row (e.g. 32 -> 4 x 8)
        exact = [c for c in range(cols, max_cols + 1) if n % c == 0]
        if exact:
            cols = exact[0]
    rows = max(1, math.ceil(n / cols))
    return rows, cols


def _sample_panels(samples, titles, title, max_cols=None, panel=(1.6, 1.6)) -> Figure:
    n = len(samples)
    rows, cols = _grid_shape(n, max_cols)
    signal = _is_signal(samples)
    w, h = (2.6, 1.5) if signal else panel
    fig = _new_figure((max(cols * w, 4.0), rows * h + 0.6))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        _draw_sample(ax, samples[i])
        ax.set_title(_wrap(titles[i], 22), fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


# ------------------------------------------------------------------------------------- EDA plots
def sample_grid(images, labels, class_names, n: int = 32, title: str = "Sample batch (training split)") -> Figure:
    """The first ``n`` samples, each titled with its class name (seed 000 Fig. 1)."""
    images = np.asarray(images)
    labels = _flat_labels(labels)
    n = int(min(n, len(images)))
    if n == 0:
        raise ValueError("sample_grid needs at least one sample")
    titles = [_class_name(class_names, labels[i]) for i in range(n)]
    return _sample_panels(images[:n], titles, title, max_cols=8)


def class_distribution(
    counts: Mapping[str, np.ndarray], class_names, title: str = "Class distribution per split"
) -> Figure:
    """Grouped bars: one group per class, one bar per split, count written on each bar."""
    class_names = [str(c) for c in class_names]
    n_classes = len(class_names)
    splits = list(counts)
    if not splits:
        raise ValueError("class_distribution needs at least one split")
    width = 0.8 / len(splits)
    x = np.arange(n_classes)
    long_names = max((len(c) for c in class_names), default=0) > 8 or n_classes > 8
    fig = _new_figure((max(6.0, 0.35 * n_classes * len(splits) + 2.5), 4.8 if long_names else 4.0))
    ax = fig.add_subplot(1, 1, 1)
    for j, split in enumerate(splits):
        values = np.asarray(counts[split]).astype(np.int64).reshape(-1)
        if values.shape[0] != n_classes:
            raise ValueError(f"counts[{split!r}] has {values.shape[0]} entries, expected {n_classes}")
        bars = ax.bar(x + (j - (len(splits) - 1) / 2) * width, values, width, label=split)
        ax.bar_label(bars, labels=[str(int(v)) for v in values], fontsize=7, padding=1,
                     rotation=90 if len(splits) * n_classes > 24 else 0)
    ax.set_xticks(x)
    if long_names:
        ax.set_xticklabels([_wrap(c, 22) for c in class_names], rotation=40, ha="right",
                           rotation_mode="anchor", fontsize=8)
    else:
        ax.set_xticklabels(class_names)
    ax.set_xlabel("class")
    ax.set_ylabel("number of samples")
    ax.set_title(title)
    ax.margins(y=0.15)  # room for the count labels
    ax.legend(title="split")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def one_per_class(images, labels, class_names, title: str = "One sample per class") -> Figure:
    """The first sample of every class present, in a near-square grid titled with class names."""
    images = np.asarray(images)
    labels = _flat_labels(labels)
    idx, names = [], []
    for c in range(len(class_names)):
        hits = np.flatnonzero(labels == c)
        if hits.size:
            idx.append(int(hits[0]))
            names.append(str(class_names[c]))
    if not idx:
        raise ValueError("one_per_class: no sample of any class")
    return _sample_panels(images[idx], names, title, panel=(2.0, 2.0))


# ------------------------------------------------------------------------------ training / eval
def training_curves(history: pd.DataFrame, title: str = "Training curves") -> Figure:
    """Two panels: loss and accuracy per epoch, train vs validation."""
    fig = _new_figure((10, 3.8))
    ax_loss, ax_acc = fig.subplots(1, 2)
    epoch = history["epoch"].to_numpy()
    marker = "o" if len(epoch) <= 30 else None
    for ax, metric, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        for split, style in (("train", "-"), ("val", "--")):
            col = f"{split}_{metric}"
            if col in history:
                ax.plot(epoch, history[col].to_numpy(), style, marker=marker, ms=3,
                        label="train" if split == "train" else "validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_title(label.capitalize())
        ax.grid(alpha=0.3)
        ax.legend()
    if len(epoch) and np.allclose(epoch, np.round(epoch)):
        ax_loss.xaxis.get_major_locator().set_params(integer=True)
        ax_acc.xaxis.get_major_locator().set_params(integer=True)
    fig.suptitle(title)
    return fig


def confusion_matrix(cm, class_names, title: str = "Confusion matrix (rows normalised)") -> Figure:
    """Row-normalised confusion matrix heatmap with values to 2 decimals and a colourbar."""
    cm = np.asarray(cm, dtype=float)
    k = cm.shape[0]
    names = [str(c) for c in class_names]
    size = max(4.5, 0.55 * k + 2.5)
    fig = _new_figure((size + 1.0, size))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(np.nan_to_num(cm, nan=0.0), cmap="Blues", vmin=0.0, vmax=1.0)
    fs = 8 if k <= 10 else 6
    for i in range(k):
        for j in range(cm.shape[1]):
            v = cm[i, j]
            text = "n/a" if not np.isfinite(v) else f"{v:.2f}"
            ax.text(j, i, text, ha="center", va="center", fontsize=fs,
                    color="white" if np.isfinite(v) and v > 0.5 else "black")
    ax.set_xticks(np.arange(cm.shape[1]))
    ax.set_yticks(np.arange(k))
    rotate = max((len(n) for n in names), default=0) > 6 or k > 8
    ax.set_xticklabels([_wrap(n, 20) for n in names], rotation=45 if rotate else 0,
                       ha="right" if rotate else "center", rotation_mode="anchor", fontsize=8)
    ax.set_yticklabels([_wrap(n, 24) for n in names], fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="fraction of true class", shrink=0.8)
    return fig


def roc_curves(fpr: Mapping[int, np.ndarray], tpr: Mapping[int, np.ndarray], auc: Mapping[int, float],
               class_names, title: str = "ROC curves (one-vs-rest)") -> Figure:
    """One-vs-rest ROC curve per class with its AUC in the legend and the chance diagonal."""
    fig = _new_figure((6.5, 5.5))
    ax = fig.add_subplot(1, 1, 1)
    cmap = plt.get_cmap("tab10" if len(fpr) <= 10 else "tab20")
    for i, c in enumerate(sorted(fpr)):
        a = auc.get(c, float("nan")) if hasattr(auc, "get") else auc[c]
        a_txt = "n/a" if a is None or not np.isfinite(a) else f"{a:.3f}"
        ax.plot(np.asarray(fpr[c]), np.asarray(tpr[c]), lw=1.4, color=cmap(i % cmap.N),
                label=f"{_class_name(class_names, c)} (AUC = {a_txt})")
    ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return fig


# --------------------------------------------------------------------------------- explanations
def normalise_for_display(m: np.ndarray, symmetric: bool = False) -> np.ndarray:
    """Scale one map for display only.

    * ``symmetric=False``: non-negative maps are divided by their max (zero stays zero, as in
      Grad-CAM's usual display); maps with negative values are min-max scaled to [0, 1].
    * ``symmetric=True``: divided by ``max |m|`` → [-1, 1], zero stays at the centre.

    Non-finite values count as 0; a constant/all-zero map becomes all zeros (no division by 0).
    """
    m = np.nan_to_num(np.asarray(m, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if symmetric:
        scale = np.abs(m).max(initial=0.0)
        return m / scale if scale > 0 else np.zeros_like(m)
    lo, hi = m.min(initial=0.0), m.max(initial=0.0)
    if lo >= 0:
        return m / hi if hi > 0 else np.zeros_like(m)
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def _display_input(x: np.ndarray) -> np.ndarray:
    """Bring one input to float [0, 1] (accepts uint8 or floats out of range)."""
    x = np.asarray(x)
    if x.dtype == np.uint8:
        return x.astype(np.float64) / 255.0
    x = np.nan_to_num(x.astype(np.float64))
    if x.size and (x.min() < 0 or x.max() > 1):
        lo, hi = x.min(), x.max()
        x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    return x


def _grayscale(img: np.ndarray) -> np.ndarray:
    if img.ndim == 3:
        if img.shape[-1] == 3:
            return img @ np.array([0.299, 0.587, 0.114])
        return img[..., 0]
    return img


def layer_maps(
    inputs,
    maps,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    title: str,
    overlay: bool = True,
    cmap: str = "jet",
    symmetric: bool = False,
) -> Figure:
    """The central explanation figure: rows = examples, columns = input then one per layer.

    ``inputs``: float in [0, 1], ``(N, H, W, C)`` / ``(N, H, W)`` images or ``(N, L)`` signals.
    ``maps``: ``(N, n_layers, H, W)`` or ``(N, n_layers, L)``; a map's spatial size may differ
    from the input's (it is stretched over the input's extent).
    ``col_labels``: ``n_layers + 1`` entries, the first for the input column.

    Each map is normalised per panel (:func:`normalise_for_display`); one shared colourbar.
    2-D: the map is drawn semi-transparently over the grayscale input (``overlay=True``) or
    alone. 1-D: the map is a heat strip behind the signal line (``overlay=False``: strip only).
    ``symmetric=True`` centres a diverging colormap at 0 (``"jet"`` is swapped for ``RdBu_r``).
    """
    inputs = np.asarray(inputs)
    maps = np.asarray(maps)
    if maps.ndim not in (3, 4):
        raise ValueError(f"maps must be (N, n_layers, H, W) or (N, n_layers, L), got shape {maps.shape}")
    one_d = maps.ndim == 3
    n, n_layers = maps.shape[:2]
    if inputs.shape[0] != n:
        raise ValueError(f"{inputs.shape[0]} inputs but {n} rows of maps")
    if one_d and inputs.ndim != 2:
        raise ValueError(f"1-D maps need (N, L) inputs, got shape {inputs.shape}")
    if not one_d and inputs.ndim not in (3, 4):
        raise ValueError(f"2-D maps need (N, H, W[, C]) inputs, got shape {inputs.shape}")
    if len(col_labels) != n_layers + 1:
        raise ValueError(f"col_labels needs {n_layers + 1} entries (input + layers), got {len(col_labels)}")
    if len(row_labels) != n:
        raise ValueError(f"row_labels needs {n} entries, got {len(row_labels)}")

    if symmetric and cmap == "jet":
        cmap = _DIVERGING_DEFAULT
    cmap_obj = plt.get_cmap(cmap)
    norm = Normalize(vmin=-1.0 if symmetric else 0.0, vmax=1.0)
    alpha = 0.5 if overlay else 1.0

    ncols = n_layers + 1
    pw, ph = (2.4, 1.35) if one_d else (1.75, 1.75)
    fig = _new_figure((ncols * pw + 1.3, n * ph + 0.9))
    axes = np.asarray(fig.subplots(n, ncols, squeeze=False))

    for i in range(n):
        x = _display_input(inputs[i])
        for j in range(ncols):
            ax = axes[i, j]
            if one_d:
                length = x.shape[0]
                lo, hi = float(x.min(initial=0.0)), float(x.max(initial=1.0))
                pad = 0.08 * (hi - lo if hi > lo else 1.0)
                ylo, yhi = lo - pad, hi + pad
                if j > 0:
                    m = normalise_for_display(maps[i, j - 1], symmetric)
                    ax.imshow(m[None, :], extent=(-0.5, length - 0.5, ylo, yhi), aspect="auto",
                              cmap=cmap_obj, norm=norm, alpha=0.85 if overlay else 1.0,
                              interpolation="nearest", origin="lower")
                if j == 0 or overlay:
                    ax.plot(np.arange(length), x, color="black", lw=1.0)
                ax.set_xlim(-0.5, length - 0.5)
                ax.set_ylim(ylo, yhi)
                ax.set_yticks([])
                ax.tick_params(axis="x", labelsize=6)
                if i < n - 1:
                    ax.set_xticklabels([])
                else:
                    ax.set_xlabel("position", fontsize=7)
            else:
                h, w = x.shape[:2]
                extent = (-0.5, w - 0.5, h - 0.5, -0.5)
                if j == 0:
                    img = x[..., 0] if x.ndim == 3 and x.shape[-1] == 1 else x
                    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1,
                              interpolation="nearest", extent=extent)
                else:
                    if overlay:
                        ax.imshow(_grayscale(x), cmap="gray", vmin=0, vmax=1,
                                  interpolation="nearest", extent=extent)
                    m = normalise_for_display(maps[i, j - 1], symmetric)
                    ax.imshow(m, cmap=cmap_obj, norm=norm, alpha=alpha, interpolation="bilinear",
                              extent=extent)
                ax.set_xlim(extent[0], extent[1])
                ax.set_ylim(extent[2], extent[3])
                ax.set_xticks([])
                ax.set_yticks([])
            if i == 0:
                ax.set_title(_wrap(col_labels[j], 16), fontsize=8)
            if j == 0:
                ax.set_ylabel(_wrap(row_labels[i], 16), fontsize=8)

    cbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap_obj), ax=axes.ravel().tolist(),
                        shrink=min(0.9, max(0.3, 2.5 / max(n, 1))), aspect=25, pad=0.02)
    cbar.set_label("relative importance (signed, per panel)" if symmetric
                   else "relative importance (per panel)")
    fig.suptitle(title)
    return fig


# --------------------------------------------------------------------------------- faithfulness
def _short_layer_labels(layers: Sequence[str]) -> dict[str, str]:
    return {layer: f"L{k + 1}" for k, layer in enumerate(layers)}


def faithfulness_bars(df: pd.DataFrame, title: str | None = None) -> Figure:
    """Drop rate (lower is better) and increase rate (higher is better), grouped by method.

    ``df`` columns: method, layer, keep_percent, drop_rate, increase_rate, n. Within each method
    group there is one bar per layer (short labels L1..Lk, mapped to module names in the legend;
    layers keep their order of first appearance). Several ``keep_percent`` values → one row of
    two panels per value.
    """
    required = {"method", "layer", "keep_percent", "drop_rate", "increase_rate"}
    missing = required - set(df.columns)
    if missing:
        raise ValueError(f"faithfulness_bars: missing columns {sorted(missing)}")
    if df.empty:
        raise ValueError("faithfulness_bars: empty table")
    df = df.copy()
    df["layer"] = df["layer"].where(df["layer"].notna(), "input").astype(str)
    methods = list(dict.fromkeys(df["method"].astype(str)))
    layers = list(dict.fromkeys(df["layer"]))
    short = _short_layer_labels(layers)
    keeps = sorted(df["keep_percent"].unique())
    n_methods, n_layers = len(methods), len(layers)
    width = 0.8 / n_layers
    colours = plt.get_cmap("viridis")(np.linspace(0.1, 0.9, n_layers)) if n_layers > 1 else ["tab:blue"]
    annotate = n_methods * n_layers <= 24

    fig = _new_figure((max(9.0, 2 * (1.2 + 0.45 * n_methods * n_layers)), 3.8 * len(keeps) + 0.6))
    axes = np.asarray(fig.subplots(len(keeps), 2, squeeze=False))
    x = np.arange(n_methods)
    for r, keep in enumerate(keeps):
        sub = df[df["keep_percent"] == keep]
        for c, (col, better) in enumerate((("drop_rate", "lower is better"),
                                           ("increase_rate", "higher is better"))):
            ax = axes[r, c]
            for k, layer in enumerate(layers):
                vals = []
                for m in methods:
                    hit = sub[(sub["method"].astype(str) == m) & (sub["layer"] == layer)][col]
                    vals.append(float(hit.mean()) if len(hit) else np.nan)
                vals = np.asarray(vals)
                pos = x + (k - (n_layers - 1) / 2) * width
                ok = np.isfinite(vals)
                bars = ax.bar(pos[ok], vals[ok], width, color=colours[k],
                              label=f"{short[layer]} = {layer}", edgecolor="black", linewidth=0.3)
                if annotate and ok.any():
                    ax.bar_label(bars, fmt="%.2f", fontsize=6, padding=1)
            ax.set_xticks(x)
            ax.set_xticklabels([_wrap(m, 14) for m in methods], fontsize=8)
            ax.set_xlabel("method")
            name = col.replace("_", " ")
            ax.set_ylabel(name)
            ax.set_title(f"{name.capitalize()} ({better}) — keep top {keep:g} %", fontsize=10)
            ax.margins(y=0.15)
            ax.grid(axis="y", alpha=0.3)
            ax.set_axisbelow(True)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    seen = dict(zip(labels, handles))
    fig.legend(list(seen.values()), list(seen.keys()), title="layer", loc="outside right upper", fontsize=7)
    fig.suptitle(title or "Faithfulness: drop / increase rate when keeping only the most salient inputs")
    return fig
