"""Training figure: loss and accuracy per epoch, train vs validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from .panels import new_figure


def training_curves(history: pd.DataFrame, title: str = "Training curves") -> Figure:
    """Two panels: loss and accuracy per epoch, train vs validation."""
    fig = new_figure((10, 3.8))
    ax_loss, ax_acc = fig.subplots(1, 2)
    epoch = history["epoch"].to_numpy()
    marker = "o" if len(epoch) <= 30 else None
    for ax, metric, label in ((ax_loss, "loss", "loss"), (ax_acc, "acc", "accuracy")):
        for split, style in (("train", "-"), ("val", "--")):
            col = f"{split}_{metric}"
            if col in history:
                ax.plot(
                    epoch,
                    history[col].to_numpy(),
                    style,
                    marker=marker,
                    ms=3,
                    label="train" if split == "train" else "validation",
                )
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
