"""Data figures: sample grids, one sample per class, class distribution per split (seed 000 Fig. 1), and
for multi-label data the share of images carrying each label with the labels' co-occurrence."""

from __future__ import annotations

from typing import Mapping

import numpy as np
from matplotlib.figure import Figure

from .panels import FONT, class_name, draw_input, flat_labels, grid_shape, is_signal, new_figure, wrap


def _sample_panels(samples, titles, title, max_cols: int, panel=(1.3, 1.3)) -> Figure:
    n = len(samples)
    signal = is_signal(samples)
    rows, cols = grid_shape(n, 4 if signal else max_cols)
    w, h = (2.6, 1.5) if signal else panel
    fig = new_figure((max(cols * w, 4.0), rows * h + 0.6))
    for i in range(n):
        ax = fig.add_subplot(rows, cols, i + 1)
        draw_input(ax, samples[i])
        ax.set_title(wrap(titles[i], 18), fontsize=FONT)
    if title:
        fig.suptitle(title)
    return fig


def sample_grid(images, labels, class_names, n: int = 32, title: str = "Sample batch (training split)") -> Figure:
    """The first ``n`` samples, each titled with its class name (seed 000 Fig. 1)."""
    images = np.asarray(images)
    labels = flat_labels(labels)
    n = int(min(n, len(images)))
    if n == 0:
        raise ValueError("sample_grid needs at least one sample")
    titles = [class_name(class_names, labels[i]) for i in range(n)]
    return _sample_panels(images[:n], titles, title, max_cols=8)


def one_per_class(images, labels, class_names, title: str = "One sample per class") -> Figure:
    """The first sample of every class present, in a near-square grid titled with class names."""
    images = np.asarray(images)
    labels = flat_labels(labels)
    idx, names = [], []
    for c in range(len(class_names)):
        hits = np.flatnonzero(labels[:, c] if labels.ndim == 2 else labels == c)
        if hits.size:
            idx.append(int(hits[0]))
            names.append(str(class_names[c]))
    if not idx:
        raise ValueError("one_per_class: no sample of any class")
    return _sample_panels(images[idx], names, title, max_cols=6, panel=(1.8, 1.8))


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
    fig = new_figure((min(11.0, max(6.0, 0.35 * n_classes * len(splits) + 2.5)), 4.8 if long_names else 4.0))
    ax = fig.add_subplot(1, 1, 1)
    for j, split in enumerate(splits):
        values = np.asarray(counts[split]).astype(np.int64).reshape(-1)
        if values.shape[0] != n_classes:
            raise ValueError(f"counts[{split!r}] has {values.shape[0]} entries, expected {n_classes}")
        bars = ax.bar(x + (j - (len(splits) - 1) / 2) * width, values, width, label=split)
        ax.bar_label(
            bars,
            labels=[str(int(v)) for v in values],
            fontsize=FONT,
            padding=1,
            rotation=90 if len(splits) * n_classes > 18 else 0,
        )
    ax.set_xticks(x)
    if long_names:
        ax.set_xticklabels(
            [wrap(c, 22) for c in class_names], rotation=40, ha="right", rotation_mode="anchor", fontsize=FONT
        )
    else:
        ax.set_xticklabels(class_names)
    ax.set_xlabel("class")
    ax.set_ylabel("number of samples")
    ax.set_title(title)
    ax.margins(y=0.2)  # room for the count labels
    ax.legend(title="split")
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    return fig


def label_frequency(
    shares: Mapping[str, np.ndarray], co_occurrence: np.ndarray, class_names, title: str = "Label frequency"
) -> Figure:
    """Multi-label data. Left: the share of images carrying each label, one bar per split. Right: P(column
    label | row label) on the training split (co-occurrence count over the row label's count)."""
    class_names = [str(c) for c in class_names]
    n = len(class_names)
    splits = list(shares)
    fig = new_figure((13.0, max(4.5, 0.38 * n + 1.8)))
    ax = fig.add_subplot(1, 2, 1)
    height = 0.8 / max(len(splits), 1)
    y = np.arange(n)
    for j, split in enumerate(splits):
        ax.barh(y + (j - (len(splits) - 1) / 2) * height, np.asarray(shares[split]), height, label=split)
    ax.set_yticks(y)
    ax.set_yticklabels(class_names, fontsize=FONT)
    ax.invert_yaxis()
    ax.set_xlabel("share of images carrying the label")
    ax.set_title("label frequency per split")
    ax.legend(title="split", fontsize=FONT)
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    co = np.asarray(co_occurrence, dtype=np.float64)
    diag = np.diag(co)
    conditional = np.divide(co, diag[:, None], out=np.full_like(co, np.nan), where=diag[:, None] > 0)
    ax2 = fig.add_subplot(1, 2, 2)
    im = ax2.imshow(conditional, cmap="viridis", vmin=0, vmax=1)
    ax2.set_xticks(y)
    ax2.set_xticklabels(class_names, rotation=60, ha="right", rotation_mode="anchor", fontsize=FONT)
    ax2.set_yticks(y)
    ax2.set_yticklabels(class_names, fontsize=FONT)
    ax2.set_xlabel("label j")
    ax2.set_ylabel("label i")
    ax2.set_title("co-occurrence P(j | i), training split")
    fig.colorbar(im, ax=ax2, fraction=0.046, pad=0.04, label="P(label j | label i)")
    fig.suptitle(title)
    return fig
