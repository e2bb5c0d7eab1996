"""One pass over a split records what every explained layer does, in memory independent of the split's size.

Per layer and channel: the running top-k images by the channel's largest value over positions
(value, test-set row, argmax position), the per-class (multi-label: per-label, over the images carrying the
label) mean of the channel's spatial mean, and the
channel's mean, max, largest spatial mean over images and the spread of its per-image maxima (which channels are worth showing).
Ties keep the earlier image first, so the record equals a brute-force scan with a stable descending sort.

Cost: each layer's output is reduced the moment its module returns (a max and a sum over its
flattened positions, vectorised reductions, while the output is still in cache). The channels of all
layers then share one column axis: the batch's k best rows per channel (a stable top-k) get their
argmax position from the held output (an argmax over k rows per channel instead of every row: torch's
max-with-index over short rows costs several times a plain max), and per-image values of up to
``buffer`` elements are merged into the running statistics in one go (one top-k of the candidates,
one class matmul with a one-hot, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..explain.base import capture

BUFFER = 1 << 22  # per-image values (rows × channels of all layers) collected before a merge


def stable_topk(values: torch.Tensor, k: int) -> torch.Tensor:
    """Columns of the ``k`` largest values of each row of (R, M), best first; ties keep the earlier column.

    Equals ``torch.sort(values, 1, descending=True, stable=True).indices[:, :k]`` without sorting all
    M columns: the k-th largest value of each row comes from ``topk``, every column above it is taken,
    and the earliest columns equal to it fill the remaining places; the k winners are then sorted stably.
    """
    k = min(k, values.shape[1])
    kth = values.topk(k, dim=1, sorted=False).values.amin(1, keepdim=True)
    above = values > kth
    tied = values == kth
    take = above | (tied & (tied.cumsum(1) <= k - above.sum(1, keepdim=True)))
    cols = take.nonzero()[:, 1].view(len(values), k)  # row-major: each row's columns in ascending order
    order = values.gather(1, cols).sort(dim=1, descending=True, stable=True).indices
    return cols.gather(1, order)


class _Reducer:
    """Store of :func:`capture` that reduces each layer's output as its module returns: (N, C) max and sum
    over positions; the output itself is held only until the batch's candidates have their argmax."""

    def __init__(self, layers: Sequence[str]):
        self.slot = {name: i for i, name in enumerate(layers)}
        self.flat: list = [None] * len(layers)
        self.value: list = [None] * len(layers)
        self.sum: list = [None] * len(layers)
        self.shape: list[tuple[int, ...]] = [()] * len(layers)

    def __setitem__(self, name: str, out: torch.Tensor) -> None:
        i = self.slot[name]
        flat = out.flatten(2)  # a view of a contiguous output
        self.flat[i] = flat
        self.value[i] = flat.amax(2).float()  # a vectorised reduction; argmax only for the batch's top k
        self.sum[i] = flat.sum(2, dtype=torch.float32)
        self.shape[i] = tuple(out.shape[2:])

    def candidates(self, value: torch.Tensor, k: int, channels: list[torch.Tensor]):
        """The batch's k best rows per channel of all layers (T, k'), stable, and their argmax positions."""
        rows = stable_topk(value.T, k)
        parts = rows.split([len(c) for c in channels])
        where = torch.cat([f[r, c].argmax(2) for f, r, c in zip(self.flat, parts, channels)])  # first max
        self.flat = [None] * len(self.flat)
        return rows, where


@dataclass
class _Running:
    """Running statistics of all layers' channels side by side (T = channels of all layers)."""

    k: int
    n_classes: int
    inv_size: torch.Tensor  # (T,) 1 / positions of the channel's layer
    top_value: torch.Tensor  # (T, k') float32, best first
    top_index: torch.Tensor  # (T, k') int64 rows of the split
    top_flat: torch.Tensor  # (T, k') int64 flat argmax position
    class_sum: torch.Tensor  # (classes, T) sum of spatial means
    class_count: torch.Tensor  # (classes,)
    total: torch.Tensor  # (T,) sum of spatial means
    peak: torch.Tensor  # (T,) max over everything
    best_mean: torch.Tensor  # (T,) largest spatial mean over images
    max_sum: torch.Tensor  # (T,) sum / sum of squares of per-image maxima
    max_sq: torch.Tensor
    seen: int = 0

    @classmethod
    def start(cls, k: int, n_classes: int, inv_size: torch.Tensor) -> "_Running":
        t, dev = len(inv_size), inv_size.device
        empty = lambda dtype: torch.empty(t, 0, dtype=dtype, device=dev)  # noqa: E731
        full = lambda v: torch.full((t,), v, device=dev)  # noqa: E731
        return cls(
            k,
            n_classes,
            inv_size,
            empty(torch.float32),
            empty(torch.int64),
            empty(torch.int64),
            torch.zeros(n_classes, t, device=dev),
            torch.zeros(n_classes, device=dev),
            full(0.0),
            full(-torch.inf),
            full(-torch.inf),
            full(0.0),
            full(0.0),
        )

    def merge(self, value, sums, labels, cand_value, cand_rows, cand_where) -> None:
        """Fold in the next B rows of the split: (B, T) maxima and sums, (B,) labels (or 0/1 (B, L) multi-label
        labels), and their top-k candidates per channel (T, m): values, split rows and argmax positions, in row
        order of their batches."""
        b = len(value)
        means = sums * self.inv_size
        candidates = torch.cat([self.top_value, cand_value], 1)  # kept rows are earlier than the new ones
        order = stable_topk(torch.nan_to_num(candidates, nan=-torch.inf), self.k)
        self.top_value = candidates.gather(1, order)
        self.top_index = torch.cat([self.top_index, cand_rows], 1).gather(1, order)
        self.top_flat = torch.cat([self.top_flat, cand_where], 1).gather(1, order)
        if labels.ndim == 2:  # multi-label: every label an image carries counts it
            onehot = labels.T.float()  # (labels, B)
        else:
            onehot = (labels == torch.arange(self.n_classes, device=labels.device)[:, None]).float()  # (classes, B)
        self.class_sum += onehot @ means
        self.class_count += onehot.sum(1)
        self.total += means.sum(0)
        self.peak = torch.maximum(self.peak, value.amax(0))
        self.best_mean = torch.maximum(self.best_mean, means.amax(0))
        self.max_sum += value.sum(0)
        self.max_sq += (value * value).sum(0)
        self.seen += b


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
    buffer: int = BUFFER,
) -> Records:
    """Run ``model`` over ``batches`` of (inputs, labels), rows numbered in order, recording every layer at once.

    Labels are classes (B,), or multi-label 0/1 (B, L): then ``class_mean`` is each label's mean over the images
    carrying it (an image with several labels counts for each, one with none for no label).

    ``buffer`` bounds the per-image values (rows × channels of all layers) held between merges.
    """
    layers = list(layers)
    reducer = _Reducer(layers)
    running: _Running | None = None
    pending: list[tuple] = []
    held = 0

    def flush():
        parts = list(zip(*pending))
        stats = [torch.cat(p, 0) for p in parts[:3]]
        running.merge(*stats, *[torch.cat(p, 1) for p in parts[3:]])
        pending.clear()

    start = 0
    with capture(model, layers, store=reducer):
        for x, labels in batches:
            model(x)
            value = torch.cat(reducer.value, 1)
            if running is None:
                sizes = [int(np.prod(s)) for s in reducer.shape]
                inv = torch.cat([torch.full((v.shape[1],), 1 / n) for v, n in zip(reducer.value, sizes)])
                running = _Running.start(k, n_classes, inv.to(value.device))
                channels = [torch.arange(v.shape[1], device=value.device)[:, None] for v in reducer.value]
            rows, where = reducer.candidates(value, k, channels)
            labels = torch.tensor(np.asarray(labels), dtype=torch.int64, device=value.device)
            pending.append((value, torch.cat(reducer.sum, 1), labels, value.T.gather(1, rows), rows + start, where))
            start += len(value)
            held += value.numel()
            if held >= buffer:
                flush()
                held = 0
    if pending:
        flush()
    if running is None:
        raise ValueError("record() needs at least one batch")
    return Records(layers, _per_layer(running, reducer.shape, [v.shape[1] for v in reducer.value]))


def _per_layer(r: _Running, shapes, channels) -> list[dict[str, np.ndarray]]:
    """Split the side-by-side statistics back into one dict of arrays per layer."""
    mean_max = r.max_sum / r.seen
    whole = {
        "index": r.top_index,
        "value": r.top_value,
        "flat": r.top_flat,
        "class_mean": (r.class_sum / r.class_count.clamp(min=1)[:, None]).T,
        "mean": r.total / r.seen,
        "max": r.peak,
        "best_mean": r.best_mean,
        "max_std": (r.max_sq / r.seen - mean_max**2).clamp(min=0).sqrt(),
    }
    whole = {key: v.cpu().numpy() for key, v in whole.items()}
    bounds = np.cumsum([0, *channels])
    out = []
    for shape, lo, hi in zip(shapes, bounds[:-1], bounds[1:]):
        part = {key: v[lo:hi] for key, v in whole.items()}
        flat = part.pop("flat")
        part["position"] = (
            np.stack(np.unravel_index(flat, shape), -1) if shape else np.zeros((*flat.shape, 0))
        ).astype(np.int64)  # (C, k, ndim)
        part["index"] = part["index"].astype(np.int64)
        out.append({key: (v if key in ("index", "position") else v.astype(np.float32)) for key, v in part.items()})
    return out


def most_variable(max_std: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` channels whose per-image maxima spread most (the selective ones), largest first."""
    return np.argsort(-np.asarray(max_std), kind="stable")[:n].astype(np.int64)
