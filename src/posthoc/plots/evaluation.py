"""Classification figures: row-normalised confusion matrix, one-vs-rest ROC curves."""

from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .panels import FONT, class_name, new_figure, wrap


def confusion_matrix(cm, class_names, title: str = "Confusion matrix (rows normalised)") -> Figure:
    """Row-normalised confusion matrix heatmap with values to 2 decimals and a colourbar."""
    cm = np.asarray(cm, dtype=float)
    k = cm.shape[0]
    names = [str(c) for c in class_names]
    size = min(10.0, max(4.5, 0.55 * k + 2.5))
    fig = new_figure((size + 1.0, size))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(np.nan_to_num(cm, nan=0.0), cmap="viridis", vmin=0.0, vmax=1.0)
    for i in range(k):
        for j in range(cm.shape[1]):
            v = cm[i, j]
            text = "n/a" if not np.isfinite(v) else f"{v:.2f}"
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=FONT,
                color="black" if np.isfinite(v) and v > 0.6 else "white",
            )
    ax.set_xticks(np.arange(cm.shape[1]))
    ax.set_yticks(np.arange(k))
    rotate = max((len(n) for n in names), default=0) > 6 or k > 8
    ax.set_xticklabels(
        [wrap(n, 20) for n in names],
        rotation=45 if rotate else 0,
        ha="right" if rotate else "center",
        rotation_mode="anchor",
        fontsize=FONT,
    )
    ax.set_yticklabels([wrap(n, 24) for n in names], fontsize=FONT)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="fraction of true class", shrink=0.8)
    return fig


def label_confusions(table, title: str = "Per-label confusion (threshold 0.5)") -> Figure:
    """Multi-label: one row per label, its 2×2 confusion as rates of the true state (true negatives and false
    positives over the negatives, false negatives and true positives over the positives), counts in the cells."""
    names = [str(c) for c in table["class"]]
    counts = table[["tn", "fp", "fn", "tp"]].to_numpy(dtype=float)
    negatives, positives = counts[:, :2].sum(1, keepdims=True), counts[:, 2:].sum(1, keepdims=True)
    totals = np.concatenate([negatives, negatives, positives, positives], 1)
    rates = np.divide(counts, totals, out=np.full_like(counts, np.nan), where=totals > 0)
    k = len(names)
    fig = new_figure((7.5, max(3.5, 0.42 * k + 1.8)))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(np.nan_to_num(rates, nan=0.0), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    for i in range(k):
        for j in range(4):
            v = rates[i, j]
            text = f"{int(counts[i, j])}" + ("" if not np.isfinite(v) else f"\n{v:.2f}")
            ax.text(
                j,
                i,
                text,
                ha="center",
                va="center",
                fontsize=FONT - 1,
                color="black" if np.isfinite(v) and v > 0.6 else "white",
            )
    ax.set_xticks(np.arange(4))
    ax.set_xticklabels(["true neg.", "false pos.", "false neg.", "true pos."], fontsize=FONT)
    ax.set_yticks(np.arange(k))
    ax.set_yticklabels([wrap(n, 24) for n in names], fontsize=FONT)
    ax.set_xlabel("outcome (count, then rate of the true state)")
    ax.set_ylabel("label")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="fraction of the label's negatives / positives", shrink=0.8)
    return fig


def roc_curves(
    fpr: Mapping[int, np.ndarray],
    tpr: Mapping[int, np.ndarray],
    auc: Mapping[int, float],
    class_names,
    title: str = "ROC curves (one-vs-rest)",
) -> Figure:
    """One-vs-rest ROC curve per class with its AUC in the legend and the chance diagonal."""
    fig = new_figure((6.5, 5.5))
    ax = fig.add_subplot(1, 1, 1)
    cmap = plt.get_cmap("tab10" if len(fpr) <= 10 else "tab20")
    for i, c in enumerate(sorted(fpr)):
        a = auc.get(c, float("nan")) if hasattr(auc, "get") else auc[c]
        a_txt = "n/a" if a is None or not np.isfinite(a) else f"{a:.3f}"
        ax.plot(
            np.asarray(fpr[c]),
            np.asarray(tpr[c]),
            lw=1.4,
            color=cmap(i % cmap.N),
            label=f"{class_name(class_names, c)} (AUC = {a_txt})",
        )
    ax.plot([0, 1], [0, 1], ls="--", color="gray", lw=1, label="chance")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate")
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT, loc="lower right")
    return fig
