"""One pass over a split records what every explained layer does, in memory independent of the split's size.

Per layer and channel: the running top-k images by the channel's largest value over positions
(value, test-set row, argmax position), the per-class mean of the channel's spatial mean, and the
channel's mean, max, largest spatial mean over images and the spread of its per-image maxima (which channels are worth showing).
Ties keep the earlier image first (a stable sort over [kept top-k, new batch]), so the record
equals a brute-force scan with a stable descending sort.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..explain.base import capture


@dataclass
class LayerRecord:
    """Running statistics of one layer's output (C channels, spatial shape ``shape``)."""

    k: int
    n_classes: int
    top_value: torch.Tensor | None = None  # (C, k') float32, best first
    top_index: torch.Tensor | None = None  # (C, k') int64 rows of the split
    top_flat: torch.Tensor | None = None  # (C, k') int64 flat argmax position
    shape: tuple[int, ...] = ()
    class_sum: torch.Tensor | None = None  # (C, classes) sum of spatial means
    class_count: torch.Tensor | None = None  # (classes,)
    total: float | torch.Tensor = 0.0  # (C,) sum of spatial means
    peak: torch.Tensor | None = None  # (C,) max over everything
    best_mean: torch.Tensor | None = None  # (C,) largest spatial mean over images
    max_sum: torch.Tensor | None = None  # (C,) sum / sum of squares of per-image maxima
    max_sq: torch.Tensor | None = None
    seen: int = 0

    def update(self, out: torch.Tensor, rows: torch.Tensor, labels: torch.Tensor) -> None:
        out = out.detach().float()
        n, c = out.shape[:2]
        self.shape = tuple(out.shape[2:])
        flat = out.reshape(n, c, -1)
        value, where = flat.max(dim=2)  # first occurrence of the max (torch.max semantics)
        means = flat.mean(dim=2)  # (N, C)
        if self.top_value is None:
            dev = out.device
            self.top_value = torch.empty(c, 0, device=dev)
            self.top_index = torch.empty(c, 0, dtype=torch.int64, device=dev)
            self.top_flat = torch.empty(c, 0, dtype=torch.int64, device=dev)
            self.class_sum = torch.zeros(c, self.n_classes, device=dev)
            self.class_count = torch.zeros(self.n_classes, device=dev)
            self.total = torch.zeros(c, device=dev)
            self.peak = torch.full((c,), -torch.inf, device=dev)
            self.best_mean = torch.full((c,), -torch.inf, device=dev)
            self.max_sum = torch.zeros(c, device=dev)
            self.max_sq = torch.zeros(c, device=dev)
        values = torch.cat([self.top_value, value.T], 1)
        order = torch.sort(values, dim=1, descending=True, stable=True).indices[:, : self.k]
        self.top_value = values.gather(1, order)
        self.top_index = torch.cat([self.top_index, rows.to(out.device).expand(c, n)], 1).gather(1, order)
        self.top_flat = torch.cat([self.top_flat, where.T], 1).gather(1, order)
        labels = labels.to(out.device)
        self.class_sum.index_add_(1, labels, means.T)
        self.class_count += torch.bincount(labels, minlength=self.n_classes).float()
        self.total += means.sum(0)
        self.peak = torch.maximum(self.peak, value.max(0).values)
        self.best_mean = torch.maximum(self.best_mean, means.max(0).values)
        self.max_sum += value.sum(0)
        self.max_sq += (value**2).sum(0)
        self.seen += n

    def result(self) -> dict[str, np.ndarray]:
        flat = self.top_flat.cpu().numpy()
        positions = (
            np.stack(np.unravel_index(flat, self.shape), -1)
            if self.shape
            else np.zeros((*flat.shape, 0), dtype=np.int64)
        )  # (C, k, ndim)
        mean_max = self.max_sum / self.seen
        return {
            "index": self.top_index.cpu().numpy().astype(np.int64),
            "value": self.top_value.cpu().numpy().astype(np.float32),
            "position": positions.astype(np.int64),
            "class_mean": (self.class_sum / self.class_count.clamp(min=1)).cpu().numpy().astype(np.float32),
            "mean": (self.total / self.seen).cpu().numpy().astype(np.float32),
            "max": self.peak.cpu().numpy().astype(np.float32),
            "best_mean": self.best_mean.cpu().numpy().astype(np.float32),
            "max_std": (self.max_sq / self.seen - mean_max**2).clamp(min=0).sqrt().cpu().numpy().astype(np.float32),
        }


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
    """Run ``model`` over ``batches`` of (inputs, labels), rows numbered in order, recording every layer at once."""
    recs = [LayerRecord(k, n_classes) for _ in layers]
    start = 0
    with capture(model, layers) as store:
        for x, labels in batches:
            model(x)
            rows = torch.arange(start, start + len(x), dtype=torch.int64).unsqueeze(0)
            for name, rec in zip(layers, recs):
                rec.update(store[name], rows, torch.as_tensor(labels, dtype=torch.int64))
            start += len(x)
    return Records(list(layers), [r.result() for r in recs])


def most_variable(max_std: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` channels whose per-image maxima spread most (the selective ones), largest first."""
    return np.argsort(-np.asarray(max_std), kind="stable")[:n].astype(np.int64)
