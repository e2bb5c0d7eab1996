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


# --- perturbation-family figures
__all__ += ["occlusion_panels", "lime_topk", "robustness_levels", "message_figure"]


def _wrap_lines(text: str, width: int) -> str:
    """Wrap every line of a multi-line label on its own (textwrap alone would join the lines)."""
    return "\n".join(_wrap(line, width) for line in str(text).split("\n"))


def _class_colours(n_classes: int):
    from matplotlib.colors import BoundaryNorm, ListedColormap

    base = plt.get_cmap("tab10" if n_classes <= 10 else "tab20")
    cmap = ListedColormap([base(i % base.N) for i in range(n_classes)])
    return cmap, BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)


def _show_image(ax, img, alpha=1.0):
    img = _display_input(img)
    img = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest", alpha=alpha)
    ax.set_xticks([])
    ax.set_yticks([])


def occlusion_panels(rows: Sequence[Mapping], class_names: Sequence[str], title: str) -> Figure:
    """Seed 000 Figs 14–23: one row per (example, window, stride), five panels per row.

    Each row mapping holds ``image`` (the input: (H, W, C) in [0, 1] or (L,)), ``occluded`` (the same
    with one window hidden),
    ``window_box`` ((top, left, height, width) or (start, length)), ``centres`` (per spatial dim, the
    window centres), ``activation``, ``probability`` and ``predicted`` (grid maps, shape = number of
    windows per dim), ``channel``, ``label`` (row label) and optionally ``projection`` (DeconvNet
    projection of the channel, input-shaped; the panel is left out when no row has one).
    Panels: occluded input · activation of the most responsive last-conv channel · [projection] ·
    true-class probability · predicted class, each with a colourbar.
    """
    from matplotlib.patches import Rectangle

    if not rows:
        raise ValueError("occlusion_panels needs at least one row")
    with_projection = any(r.get("projection") is not None for r in rows)
    heads = ["occluded input", "activation of the most\nresponsive last-conv channel"]
    heads += ["DeconvNet projection\nof that channel"] if with_projection else []
    heads += ["true-class probability\nwith the window hidden", "predicted class\nwith the window hidden"]
    one_d = np.ndim(rows[0]["occluded"]) == 1
    cmap_cls, norm_cls = _class_colours(len(class_names))
    fig = _new_figure((3.1 * len(heads) + 0.6, (1.9 if one_d else 2.9) * len(rows) + 0.8))
    axes = np.asarray(fig.subplots(len(rows), len(heads), squeeze=False))
    for i, r in enumerate(rows):
        cols = list(axes[i])
        ax = cols.pop(0)
        if one_d:
            sig = np.asarray(r["occluded"])
            ax.plot(np.arange(len(sig)), sig, color="black", lw=1)
            start, length = r["window_box"]
            ax.axvspan(start - 0.5, start + length - 0.5, color="tab:orange", alpha=0.3, label="hidden")
            ax.set_xlabel("position", fontsize=7)
            ax.legend(fontsize=6, loc="upper right")
            ax.tick_params(labelsize=6)
        else:
            _show_image(ax, r["occluded"])
            top, left, h, w = r["window_box"]
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, edgecolor="tab:orange", lw=1.5))
        ax.set_ylabel(_wrap_lines(r["label"], 30), fontsize=7)
        panels = [("activation", r["activation"], "viridis", None, "summed activation")]
        if with_projection:
            panels.append(("projection", r.get("projection"), None, None, ""))
        panels += [("probability", r["probability"], "magma", Normalize(0, 1), "p(true class)"),
                   ("predicted", r["predicted"], cmap_cls, norm_cls, "class")]
        for ax, (key, m, cmap, norm, clabel) in zip(cols, panels):
            if key == "projection":
                if m is None:
                    ax.set_axis_off()
                elif one_d:
                    ax.plot(np.arange(len(m)), m, color="tab:purple", lw=1)
                    ax.axhline(0, color="gray", lw=0.5)
                    ax.set_ylabel("projection (scaled)", fontsize=7)
                    ax.tick_params(labelsize=6)
                    ax.set_xlabel("position", fontsize=7)
                else:
                    _show_image(ax, np.asarray(m))
                continue
            m = np.asarray(m)
            if one_d:
                c = np.asarray(r["centres"][0])
                if key == "predicted":
                    ax.scatter(c, m, c=m, cmap=cmap, norm=norm, s=12)
                    ax.set_yticks(np.arange(len(class_names)))
                    ax.set_yticklabels([_wrap(n, 12) for n in class_names], fontsize=5)
                    ax.set_ylim(-0.5, len(class_names) - 0.5)
                else:
                    ax.plot(c, m, marker=".", color=plt.get_cmap(cmap)(0.6), lw=1)
                    ax.set_ylabel(clabel, fontsize=7)
                    if key == "probability":
                        ax.set_ylim(-0.02, 1.02)
                ax.set_xlim(-0.5, len(r["occluded"]) - 0.5)
                ax.set_xlabel("window centre", fontsize=7)
                ax.tick_params(labelsize=6)
                continue
            cy, cx = (np.asarray(c) for c in r["centres"])
            _show_image(ax, _grayscale(_rgb(r.get("image", r["occluded"]))), alpha=0.35)  # values at window centres
            mesh = ax.pcolormesh(cx, cy, m, shading="nearest", cmap=cmap, norm=norm, alpha=0.85)
            ax.set_xlim(-0.5, len(r["occluded"][0]) - 0.5)
            ax.set_ylim(len(r["occluded"]) - 0.5, -0.5)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            cbar = fig.colorbar(mesh, ax=ax, shrink=0.8, pad=0.02)
            if key == "predicted":
                present = np.unique(m).astype(int)
                cbar.set_ticks(present)
                cbar.set_ticklabels([_wrap(class_names[k], 14) for k in present], fontsize=6)
            else:
                cbar.set_label(clabel, fontsize=7)
                cbar.ax.tick_params(labelsize=6)
        if i == 0:
            for ax, head in zip(axes[0], heads):
                ax.set_title(head, fontsize=8)
    fig.suptitle(title)
    return fig


def _rgb(img: np.ndarray) -> np.ndarray:
    img = _display_input(img)
    img = img[..., 0] if img.ndim == 3 and img.shape[-1] == 1 else img
    return np.stack([img] * 3, axis=-1) if img.ndim == 2 else img


def _dim_outside(img: np.ndarray, keep: np.ndarray) -> np.ndarray:
    img = _rgb(img)
    return np.where(keep[..., None], img, 0.15 + 0.15 * img)


def lime_topk(rows: Sequence[Mapping], ks: Sequence[int], title: str) -> Figure:
    """Seed 001 Figs 2.5–2.12: an input with its superpixels, its weights, then its top-k superpixels.

    One row per mapping with ``image`` ((H, W, C) in [0, 1] or a signal (L,)), ``segments`` (labels
    of the same spatial shape), ``coef`` (one LIME weight per superpixel) and ``label`` (row label,
    e.g. the example and the hyper-parameter setting). Columns: input + superpixel borders, weights
    painted on the superpixels (diverging, centred at 0), then the top-k superpixels for every k (the
    others dimmed).
    """
    from skimage.segmentation import mark_boundaries

    if not rows:
        raise ValueError("lime_topk needs at least one row")
    one_d = np.ndim(rows[0]["image"]) == 1
    ncols = 2 + len(ks)
    fig = _new_figure((2.6 * ncols + 0.8, (1.6 if one_d else 2.5) * len(rows) + 0.8))
    axes = np.asarray(fig.subplots(len(rows), ncols, squeeze=False))
    for i, r in enumerate(rows):
        image, segments = np.asarray(r["image"]), np.asarray(r["segments"])
        coef = np.asarray(r["coef"], dtype=float)
        order = np.argsort(-coef, kind="stable")
        weight_map = coef[segments]
        scale = np.abs(coef).max(initial=0.0) or 1.0
        for j, ax in enumerate(axes[i]):
            if one_d:
                pos = np.arange(len(image))
                lo, hi = float(np.min(image)), float(np.max(image))
                ax.plot(pos, image, color="black", lw=1)
                if j == 0:
                    for b in np.flatnonzero(np.diff(segments)):
                        ax.axvline(b + 0.5, color="goldenrod", lw=0.8)
                elif j == 1:
                    im = ax.imshow(weight_map[None, :], extent=(-0.5, len(image) - 0.5, lo, hi), aspect="auto",
                                   cmap="RdBu_r", vmin=-scale, vmax=scale, alpha=0.8)
                else:
                    keep = np.isin(segments, order[: ks[j - 2]])
                    ax.fill_between(pos, lo, hi, where=keep, color="tab:green", alpha=0.3, step="mid")
                ax.set_xlim(-0.5, len(image) - 0.5)
                ax.tick_params(labelsize=6)
            else:
                if j == 0:  # borders drawn on an enlarged copy, so that they stay thin on small images
                    up = max(1, int(np.ceil(256 / max(segments.shape))))
                    big = np.kron(_rgb(image), np.ones((up, up, 1)))
                    ax.imshow(mark_boundaries(big, np.kron(segments, np.ones((up, up), int)), color=(1, 0.85, 0),
                                              mode="inner"), extent=(-0.5, segments.shape[1] - 0.5,
                                                                     segments.shape[0] - 0.5, -0.5))
                elif j == 1:
                    ax.imshow(_grayscale(_rgb(image)), cmap="gray", vmin=0, vmax=1)
                    im = ax.imshow(weight_map, cmap="RdBu_r", vmin=-scale, vmax=scale, alpha=0.65)
                else:
                    keep = np.isin(segments, order[: ks[j - 2]])
                    ax.imshow(_dim_outside(image, keep))
                ax.set_xticks([])
                ax.set_yticks([])
            if i == 0:
                ax.set_title(["input and superpixels", "superpixel weights"][j] if j < 2
                             else f"top {ks[j - 2]} superpixels", fontsize=8)
        axes[i, 0].set_ylabel(_wrap_lines(r["label"], 34), fontsize=7)
        cbar = fig.colorbar(im, ax=axes[i, 1], shrink=0.8, pad=0.02)
        cbar.set_label("LIME weight", fontsize=7)
        cbar.ax.tick_params(labelsize=6)
    fig.suptitle(title)
    return fig


def message_figure(text: str, title: str) -> Figure:
    """A small figure that says why there is nothing to show (a contracted figure is never missing)."""
    fig = _new_figure((6, 1.6))
    ax = fig.add_subplot(1, 1, 1)
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11)
    ax.set_axis_off()
    fig.suptitle(title)
    return fig


def robustness_levels(kind: str, levels: Sequence[float], inputs: np.ndarray, maps_top: np.ndarray,
                      maps_original: np.ndarray, top_titles: Sequence[str], original_titles: Sequence[str],
                      summary: pd.DataFrame, title: str) -> Figure:
    """Seed 001 Figs 3.8–3.10 for one degradation, with the evaluation-set curves below.

    Top: one column per level; rows = degraded input, Grad-CAM for the top class at that level,
    Grad-CAM for the original class. Bottom: accuracy / mean confidence and mean rank correlation of
    the maps with the clean maps against the level (``summary`` rows of this degradation).
    """
    n = len(levels)
    one_d = np.ndim(inputs) == 2
    fig = _new_figure((max(2.0 * n, 8.0) + 1.0, (1.4 if one_d else 2.0) * 3 + 3.4))
    top_fig, bottom_fig = fig.subfigures(2, 1, height_ratios=[3.0 if not one_d else 2.2, 1.6])
    axes = np.asarray(top_fig.subplots(3, n, squeeze=False))
    norm, cmap = Normalize(0, 1), plt.get_cmap("jet")
    for j in range(n):
        x = _display_input(inputs[j]) if not one_d else inputs[j]
        for i, (m, head) in enumerate(((None, f"{kind} = {levels[j]:g}"), (maps_top[j], top_titles[j]),
                                       (maps_original[j], original_titles[j]))):
            ax = axes[i, j]
            if one_d:  # one y-range for every level, so that the degradation itself shows
                lo, hi = float(np.min(inputs)), float(np.max(inputs))
                ax.plot(np.arange(len(x)), x, color="black", lw=0.8)
                if m is not None:
                    ax.imshow(normalise_for_display(m)[None, :], extent=(-0.5, len(x) - 0.5, lo, hi), aspect="auto",
                              cmap=cmap, norm=norm, alpha=0.8)
                ax.set_ylim(lo, hi)
                ax.set_yticks([])
                ax.tick_params(labelsize=5)
            else:
                if m is None:
                    _show_image(ax, x)
                else:
                    _show_image(ax, _grayscale(x))
                    ax.imshow(normalise_for_display(m), cmap=cmap, norm=norm, alpha=0.5)
            ax.set_title(_wrap(head, 22), fontsize=7)
        if j == 0:
            for i, lab in enumerate(("input", "Grad-CAM,\ntop class", "Grad-CAM,\noriginal class")):
                axes[i, 0].set_ylabel(lab, fontsize=8)
    cbar = top_fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=axes[1:].ravel().tolist(), shrink=0.8)
    cbar.set_label("relative importance (per panel)", fontsize=7)
    ax1, ax2 = bottom_fig.subplots(1, 2)
    lv = summary["level"].to_numpy()
    ax1.plot(lv, summary["accuracy"], marker="o", label="accuracy")
    ax1.plot(lv, summary["mean_confidence"], marker="s", label="mean confidence (top class)")
    ax1.plot(lv, summary["mean_p_original"], marker="^", label="mean p(original class)")
    ax1.set_ylim(-0.02, 1.02)
    ax1.set_ylabel("fraction / probability")
    ax2.plot(lv, summary["rank_corr_top"], marker="o", label="top-class map")
    ax2.plot(lv, summary["rank_corr_original"], marker="s", label="original-class map")
    ax2.set_ylim(min(-0.05, float(np.nanmin(summary[["rank_corr_top", "rank_corr_original"]].to_numpy(), initial=0))),
                 1.05)
    ax2.set_ylabel("Spearman ρ with clean map")
    for ax, t in ((ax1, "Predictions (evaluation set)"), (ax2, "Map stability (evaluation set)")):
        ax.set_xlabel(f"{kind} level")
        ax.set_title(t, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(title)
    return fig


# --- gradient-family figures -----------------------------------------------------------------------
__all__ += ["reconstructions", "confusion_maps", "map_grid"]


def _fixed_grid(nrows: int, ncols: int, pw: float, ph: float, gap_w: float = 0.15, gap_h: float = 0.45,
                left: float = 1.1, right: float = 0.2, top: float = 0.8, bottom: float = 0.5, cbar: bool = False):
    """A grid of equal panels with margins in inches and no layout engine (big grids draw several
    times faster than with constrained layout). Returns (figure, axes (nrows, ncols), colourbar axes)."""
    extra = 0.9 if cbar else 0.0
    width = left + ncols * pw + (ncols - 1) * gap_w + right + extra
    height = top + nrows * ph + (nrows - 1) * gap_h + bottom
    fig = plt.figure(figsize=(width, height))
    axes = np.asarray(fig.subplots(nrows, ncols, squeeze=False, gridspec_kw=dict(
        left=left / width, right=(width - right - extra) / width, bottom=bottom / height, top=1 - top / height,
        wspace=gap_w / pw, hspace=gap_h / ph)))
    cax = None
    if cbar:
        h = min(height - top - bottom, max(2.0, 0.5 * (height - top - bottom)))
        cax = fig.add_axes([(width - extra + 0.2) / width, (bottom + (height - top - bottom - h) / 2) / height,
                            0.15 / width, h / height])
    return fig, axes, cax


def _sparse_x_ticks(ax, last_row: bool) -> None:
    """1-D panels: a few position ticks on the bottom row only (tick layout dominates drawing time)."""
    if last_row:
        ax.xaxis.set_major_locator(plt.MaxNLocator(4, integer=True))
        ax.set_xlabel("position", fontsize=6)
    else:
        ax.set_xticks([])


def _blank(ax) -> None:
    """An empty panel that keeps its axis labels (row labels live on the first column)."""
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def _rescale01(a: np.ndarray) -> np.ndarray:
    """Linear rescaling of one panel to [0, 1]; a constant (void) panel becomes zeros."""
    a = np.nan_to_num(np.asarray(a, dtype=np.float64))
    lo, hi = a.min(initial=0.0), a.max(initial=0.0)
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def _check_grid_labels(figure: str, what: str, inputs: np.ndarray, n: int, n_cols: int,
                       row_labels: Sequence[str], col_labels: Sequence[str]) -> None:
    """An input-then-maps grid of n rows × n_cols maps needs n inputs and row labels, n_cols + 1 column labels."""
    if len(col_labels) != n_cols + 1 or len(row_labels) != n or inputs.shape[0] != n:
        raise ValueError(f"{figure}: {n} rows × {n_cols} {what} need {n} inputs and row labels and "
                         f"{n_cols + 1} column labels")


def reconstructions(inputs, recons, row_labels: Sequence[str], col_labels: Sequence[str], title: str) -> Figure:
    """DeconvNet figure (seed 000 Figs 11–13): rows = examples, columns = input then one per layer.

    ``inputs``: display arrays in [0, 1], ``(N, H, W, C)`` images or ``(N, L)`` signals.
    ``recons``: ``(N, n_layers, C, *spatial)`` reconstructions in input units (de-normalised: times
    the per-channel std; the mean is a constant offset that the rescaling removes). Each panel is
    linearly rescaled to [0, 1] on its own (all channels together) and shown as an image — or, for
    1-D signals, as a line on the same [0, 1] axis. An all-zero (void) reconstruction is marked.
    """
    inputs, recons = np.asarray(inputs), np.asarray(recons)
    n, n_layers = recons.shape[:2]
    one_d = recons.ndim == 4
    _check_grid_labels("reconstructions", "layers", inputs, n, n_layers, row_labels, col_labels)
    pw, ph = (2.4, 1.35) if one_d else (1.6, 1.6)
    fig, axes, _ = _fixed_grid(n, n_layers + 1, pw, ph, gap_h=0.12 if not one_d else 0.2, gap_w=0.1)
    for i in range(n):
        for j in range(n_layers + 1):
            ax = axes[i, j]
            if j == 0:
                panel = _display_input(inputs[i])
            else:
                r = recons[i, j - 1]
                panel = _rescale01(r[0] if one_d else np.moveaxis(r, 0, -1))
                if not np.abs(r).max(initial=0.0) > 0:
                    ax.text(0.5, 0.5, "void\n(all zero)", transform=ax.transAxes, ha="center", va="center",
                            fontsize=7, color="tab:red")
            if one_d:
                ax.plot(np.arange(panel.shape[0]), panel, color="black" if j == 0 else "tab:blue", lw=1.0)
                ax.set_yticks([])
                ax.tick_params(axis="x", labelsize=6)
                _sparse_x_ticks(ax, last_row=i == n - 1)
            else:
                img = panel[..., 0] if panel.ndim == 3 and panel.shape[-1] == 1 else panel
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest")
                ax.set_xticks([])
                ax.set_yticks([])
            if i == 0:
                ax.set_title(_wrap(col_labels[j], 16), fontsize=8)
            if j == 0:
                ax.set_ylabel(_wrap(row_labels[i], 16), fontsize=8)
    fig.suptitle(title, y=1 - 0.25 / fig.get_figheight())
    fig.text(0.5, 0.2 / fig.get_figheight(), "each reconstruction de-normalised and rescaled to [0, 1] on its own",
             ha="center", va="center", fontsize=8, color="dimgray")
    return fig


def _overlay_panel(ax, x: np.ndarray, m: np.ndarray | None, cmap_obj, norm, one_d: bool) -> None:
    """One input (display array) with one map drawn over it (``m=None``: the input alone)."""
    x = _display_input(x)
    if one_d:
        length = x.shape[0]
        lo, hi = float(x.min(initial=0.0)), float(x.max(initial=1.0))
        pad = 0.08 * (hi - lo if hi > lo else 1.0)
        if m is not None:
            ax.imshow(normalise_for_display(m)[None, :], extent=(-0.5, length - 0.5, lo - pad, hi + pad),
                      aspect="auto", cmap=cmap_obj, norm=norm, alpha=0.85, interpolation="nearest", origin="lower")
        ax.plot(np.arange(length), x, color="black", lw=1.0)
        ax.set_xlim(-0.5, length - 0.5)
        ax.set_ylim(lo - pad, hi + pad)
        ax.set_yticks([])
        ax.tick_params(axis="x", labelsize=6)
        return
    h, w = x.shape[:2]
    extent = (-0.5, w - 0.5, h - 0.5, -0.5)
    if m is None:
        img = x[..., 0] if x.ndim == 3 and x.shape[-1] == 1 else x
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest", extent=extent)
    else:
        ax.imshow(_grayscale(x), cmap="gray", vmin=0, vmax=1, interpolation="nearest", extent=extent)
        ax.imshow(normalise_for_display(m), cmap=cmap_obj, norm=norm, alpha=0.5, interpolation="bilinear",
                  extent=extent)
    ax.set_xticks([])
    ax.set_yticks([])


def confusion_maps(correct_inputs, wrong_inputs, maps, methods: Sequence[str], confusions: Sequence[Mapping],
                   class_names: Sequence[str], title: str, cmap: str = "jet") -> Figure:
    """Correct vs misclassified for the most frequent confusions (seed 004 Fig 19).

    Per confusion (true t → predicted p) a block of three columns: a correctly classified image of
    t with its map for t; the misclassified image with its map for t; and its map for p. The top
    row shows the two inputs and the misclassified image's class probabilities; one row per method
    below. ``correct_inputs`` / ``wrong_inputs``: display arrays (K, ...), a correct input may be
    ``None``; ``maps``: (n_methods, K, 3, *spatial); ``confusions``: dicts with ``true``, ``pred``,
    ``count``, ``p_correct`` and ``probs`` (the misclassified image's class probabilities).
    """
    maps = np.asarray(maps)
    k, n_methods = len(confusions), len(methods)
    if k == 0:
        fig = _new_figure((6, 1.5))
        fig.text(0.5, 0.5, "No misclassified test images: no confusion to show.", ha="center", va="center")
        fig.suptitle(title)
        return fig
    one_d = maps.ndim == 4
    cmap_obj, norm = plt.get_cmap(cmap), Normalize(0.0, 1.0)
    pw, ph = (2.2, 1.2) if one_d else (1.5, 1.5)
    block_gap = 0.35  # inches between confusion blocks
    fig, axes, cax = _fixed_grid(n_methods + 1, 3 * k, pw, ph, gap_w=0.12, gap_h=0.5, top=1.0,
                                 right=0.2 + block_gap * (k - 1), cbar=True)
    for col in range(3, 3 * k):
        for ax in axes[:, col]:
            x0, y0, w, h = ax.get_position().bounds
            ax.set_position([x0 + block_gap * (col // 3) / fig.get_figwidth(), y0, w, h])
    for b, conf in enumerate(confusions):
        t, p = int(conf["true"]), int(conf["pred"])
        tn, pn = _class_name(class_names, t), _class_name(class_names, p)
        probs = np.asarray(conf["probs"], dtype=float)
        ax_c, ax_w, ax_p = axes[0, 3 * b:3 * b + 3]
        if correct_inputs[b] is None:
            _blank(ax_c)
            ax_c.text(0.5, 0.5, f"no correctly\nclassified {tn}", ha="center", va="center", fontsize=7)
        else:
            _overlay_panel(ax_c, correct_inputs[b], None, cmap_obj, norm, one_d)
            ax_c.set_title(_wrap(f"correct: {tn} (p={conf['p_correct']:.2f})", 20), fontsize=7)
        _overlay_panel(ax_w, wrong_inputs[b], None, cmap_obj, norm, one_d)
        for ax in (ax_c, ax_w):
            if one_d and ax.has_data():
                _sparse_x_ticks(ax, last_row=False)
        ax_w.set_title(_wrap(f"true {tn} → predicted {pn} ({conf['count']}× in test)", 22), fontsize=7)
        colours = ["tab:green" if c == t else "tab:red" if c == p else "lightgray" for c in range(len(probs))]
        ax_p.barh(np.arange(len(probs)), probs, color=colours)
        ax_p.set_xlim(0, 1)
        ax_p.invert_yaxis()
        ax_p.yaxis.tick_right()
        ax_p.set_yticks(np.arange(len(probs)))
        ax_p.tick_params(axis="y", labelsize=5, length=1, pad=1)
        ax_p.tick_params(axis="x", labelsize=6)
        for c in (t, p):
            ax_p.text(min(probs[c], 1.0) + 0.03, c, _wrap(_class_name(class_names, c), 16), va="center", fontsize=6)
        ax_p.set_title(_wrap(f"class probabilities: p({tn})={probs[t]:.2f}, p({pn})={probs[p]:.2f}", 24),
                       fontsize=7)
        for r in range(n_methods):
            for c, (image, cls) in enumerate(((correct_inputs[b], tn), (wrong_inputs[b], tn), (wrong_inputs[b], pn))):
                ax = axes[r + 1, 3 * b + c]
                if image is None:
                    _blank(ax)
                    continue
                _overlay_panel(ax, image, maps[r, b, c], cmap_obj, norm, one_d)
                if one_d:
                    _sparse_x_ticks(ax, last_row=r == n_methods - 1)
                if r == 0:
                    ax.set_title(f"map for {_wrap(cls, 14)}", fontsize=7)
    for r in range(n_methods + 1):
        axes[r, 0].set_ylabel("input" if r == 0 else _wrap(methods[r - 1], 16), fontsize=8)
    cbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap_obj), cax=cax)
    cbar.set_label("relative importance (per panel)")
    fig.suptitle(title, y=1 - 0.25 / fig.get_figheight())
    return fig


def map_grid(inputs, maps, row_labels: Sequence[str], col_labels: Sequence[str], title: str,
             cmap: str = "jet") -> Figure:
    """Like :func:`layer_maps` (rows = examples or methods, columns = input then maps, each map over
    its input, normalised per panel, one colourbar), drawn on a fixed grid: several times faster for
    the large cross-method figures. ``inputs`` (N, ...) display arrays; ``maps`` (N, n_cols, *spatial)."""
    inputs, maps = np.asarray(inputs), np.asarray(maps)
    n, n_cols = maps.shape[:2]
    one_d = maps.ndim == 3
    _check_grid_labels("map_grid", "maps", inputs, n, n_cols, row_labels, col_labels)
    cmap_obj, norm = plt.get_cmap(cmap), Normalize(0.0, 1.0)
    pw, ph = (2.2, 1.2) if one_d else (1.5, 1.5)
    fig, axes, cax = _fixed_grid(n, n_cols + 1, pw, ph, gap_w=0.1, gap_h=0.3 if one_d else 0.12, top=1.05,
                                 left=1.3, cbar=True)
    for i in range(n):
        for j in range(n_cols + 1):
            ax = axes[i, j]
            _overlay_panel(ax, inputs[i], None if j == 0 else maps[i, j - 1], cmap_obj, norm, one_d)
            if one_d:
                _sparse_x_ticks(ax, last_row=i == n - 1)
            if i == 0:
                ax.set_title(_wrap(col_labels[j], 18), fontsize=7)
            if j == 0:
                ax.set_ylabel(_wrap(row_labels[i], 18), fontsize=7)
    cbar = fig.colorbar(ScalarMappable(norm=norm, cmap=cmap_obj), cax=cax)
    cbar.set_label("relative importance (per panel)")
    fig.suptitle(title, y=1 - 0.25 / fig.get_figheight())
    return fig
