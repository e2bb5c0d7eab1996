"""One pass over a split records what every explained layer does, in memory independent of the split's size.

Per layer and channel: the running top-k images by the channel's largest value over positions (value,
test-set row, argmax position), the per-class (multi-label: per-label, over the images carrying the label)
mean of the channel's spatial mean, and the channel's mean, max, largest spatial mean over images and the
spread of its per-image maxima (which channels are worth showing). Ties keep the earlier image first, so the
record equals a brute-force scan with a stable descending sort.

Each layer's output is folded into its record the moment its module returns, while it is still in cache,
by the compiled loops of :mod:`.running`; nothing is held between batches but the records.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..explain.base import capture
from .running import Running, use_threads


class _Folder:
    """Store of :func:`capture` that folds each layer's output into the layer's :class:`Running` record as
    its module returns (while the output is still in cache)."""

    def __init__(self, k: int, n_classes: int):
        self.k, self.n_classes = k, n_classes
        self.running: dict[str, Running] = {}
        self.row0 = 0
        self.label = self.labels = _NO_LABELS

    def __setitem__(self, name: str, out: torch.Tensor) -> None:
        running = self.running.get(name)
        if running is None:
            running = self.running[name] = Running(tuple(out.shape[1:]), self.k, self.n_classes)
        running.fold(out, self.row0, self.label, self.labels)


_NO_LABEL = np.zeros(0, np.int64)
_NO_LABELS = np.zeros((0, 0), np.int64)  # no label columns: single-label batches


@dataclass
class Records:
    layers: list[str]
    per_layer: list[dict[str, np.ndarray]] = field(default_factory=list)


@torch.no_grad()
def record(
    model: nn.Module,
    layers: Sequence[str],
    batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
    n_classes: int,
    k: int,
) -> Records:
    """Run ``model`` over ``batches`` of (inputs, labels), rows numbered in order, recording every layer at once.

    Labels are classes (B,), or multi-label 0/1 (B, L): then ``class_mean`` is each label's mean over the images
    carrying it (an image with several labels counts for each, one with none for no label).
    """
    layers = list(layers)
    folder = _Folder(k, n_classes)
    use_threads(torch.get_num_threads())
    with capture(model, layers, store=folder):
        for x, y in batches:
            y = np.asarray(y, dtype=np.int64)
            if y.ndim == 2:  # multi-label (B, L)
                if y.shape[1] != n_classes:
                    raise ValueError(f"multi-label labels have {y.shape[1]} columns; the record expects {n_classes}")
                folder.label, folder.labels = _NO_LABEL, np.ascontiguousarray(y)
            else:
                folder.label, folder.labels = y.reshape(len(x)), _NO_LABELS
            model(x)
            folder.row0 += len(x)
    if folder.row0 == 0:
        raise ValueError("record() needs at least one image")
    missing = [name for name in layers if name not in folder.running]
    if missing:
        raise ValueError(f"layers {missing} produced no output in the model's forward pass")
    return Records(layers, [_finish(folder.running[name], folder.row0) for name in layers])


def _finish(r: Running, seen: int) -> dict[str, np.ndarray]:
    """One layer's record as arrays: spatial sums scaled to spatial means, top-k flat positions as indices."""
    width = int(r.kept[0])  # k, or every image of a smaller split (every channel sees every image)
    flat = r.flat[:, :width]
    class_mean, (mean, peak, best_mean, max_std) = r.summary(seen)
    return {
        "index": r.index[:, :width].copy(),
        "value": r.top[:, :width].copy(),
        "position": flat[..., None].copy() if len(r.spatial) == 1 else np.stack(np.unravel_index(flat, r.spatial), -1),
        "class_mean": class_mean,
        "mean": mean,
        "max": peak,
        "best_mean": best_mean,
        "max_std": max_std,
    }


def most_variable(max_std: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` channels whose per-image maxima spread most (the selective ones), largest first."""
    return np.argsort(-np.asarray(max_std), kind="stable")[:n].astype(np.int64)
