"""One pass over a split records what every explained layer does, in memory independent of the split's size.

Per layer and channel: the running top-k images by the channel's largest value over positions
(value, test-set row, argmax position), the per-class (multi-label: per-label, over the images carrying the
label) mean of the channel's spatial mean, and the
channel's mean, max, largest spatial mean over images and the spread of its per-image maxima (which channels are worth showing).
Ties keep the earlier image first, so the record equals a brute-force scan with a stable descending sort.

Cost: each layer's output is reduced the moment its module returns, while it is still in cache, into
preallocated chunk buffers (rows × channels): a max and a sum over its flattened positions (vectorised
reductions; a ReLU's max as an integer max over the float bits, see :func:`max_and_sum`). The argmax position is taken only for the images that can still enter a channel's top k
(above the k-th value kept so far; a few per channel and batch), from the held output: torch's
max-with-index over short rows costs several times a plain max. Everything else — the stable top-k
merge (one sort of the kept entries and the candidates), the class means (one matmul with a one-hot), the statistics — runs once per chunk of up to
``buffer`` per-image values, on all layers' channels side by side, so the per-batch work is a few ops
per layer whatever the split's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..explain.base import capture, submodules

BUFFER = 1 << 22  # per-image values (rows × channels of all layers) collected before a merge


def stable_top(value: torch.Tensor, column: torch.Tensor, k: int, columns: int) -> torch.Tensor:
    """Entries of the ``k`` largest ``value`` per column, (columns, k) best first; ties keep the earlier entry.

    ``value`` (float32) and ``column`` (M,) list entries in any column order, each column's own entries in
    their order of precedence; NaN ranks as -inf (below it, as ``torch.nan_to_num`` maps). Every column
    must have at least ``k`` entries. One stable sort of an int64 key (column, then the value descending,
    from the float's bits: non-negative floats order as their bits, negative ones reversed) groups each
    column's entries best first, and the first k of each are taken.
    """
    bits = (torch.nan_to_num(value, nan=-torch.inf) + 0.0).view(torch.int32)  # + 0.0: -0 ties with +0
    ascending = (bits ^ ((bits >> 31) & 0x7FFFFFFF)).long()  # the float order, as integers
    order = torch.sort((column.long() << 33) + (1 << 31) - ascending, stable=True).indices
    counts = torch.bincount(column, minlength=columns)
    first = torch.cumsum(counts, 0) - counts
    rank = torch.arange(len(order), device=order.device) - first[column[order]]
    return order[rank < k].view(columns, k)


def max_and_sum(
    flat: torch.Tensor, rectified: bool, value: torch.Tensor | None = None, sums: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Max and float32 sum over the last axis of (B, C, P), into ``value`` / ``sums`` if given.

    ``rectified``: the values are a ReLU's, never negative but -0 and NaN. Non-negative floats order as
    their bits do as int32, and an integer max is vectorised without the float max's NaN checks (3x
    faster): -0 then loses to +0 (an equal value), and a NaN of either sign, which the sum shows, is put back.
    """
    sums = torch.sum(flat, -1, dtype=torch.float32, out=sums)
    value = flat.new_empty(flat.shape[:-1]) if value is None else value
    if rectified and flat.dtype == torch.float32:
        torch.amax(flat.view(torch.int32), -1, out=value.view(torch.int32))
        value.masked_fill_(sums.isnan(), torch.nan)
    else:
        torch.amax(flat, -1, out=value)  # vectorised: several times faster than max-with-index
    return value, sums


class _Reducer:
    """Store of :func:`capture` that reduces each layer's output as its module returns.

    Per layer, rows ``fill .. fill + B`` of (R, C) chunk buffers receive the batch's max and sum over
    positions. An image's argmax position is taken only where it can still enter a channel's top k: above
    ``thr``, the k-th value kept so far (a tie goes to the earlier image), or, while none is kept, at or
    above the batch's own k-th value. Those few (row, channel) entries, as flat indices into the chunk's
    (R, C) buffer, and their argmax positions (from the held output) are the chunk's top-k candidates.
    """

    def __init__(self, layers: Sequence[str], k: int, rectified: Sequence[bool]):
        self.slot = {name: i for i, name in enumerate(layers)}
        self.k = k
        self.rectified = list(rectified)  # the layer's output is a ReLU's: no negative values but -0 and NaN
        n = len(layers)
        self.value: list = [None] * n  # (R, C) dtype of the output
        self.sum: list = [None] * n  # (R, C) float32
        self.hits: list[list] = [[] for _ in range(n)]  # flat indices into (R, C) of the candidates
        self.where: list[list] = [[] for _ in range(n)]  # their flat argmax positions
        self.thr: list = [None] * n  # (C,) a later image must exceed it to enter the top k; None at first
        self.shape: list[tuple[int, ...]] = [()] * n
        self.rows = 0  # R
        self.fill = 0

    def __setitem__(self, name: str, out: torch.Tensor) -> None:
        i = self.slot[name]
        flat = out.flatten(2)  # a view of a contiguous output
        b, c, size = flat.shape
        if self.value[i] is None:
            self.shape[i] = tuple(out.shape[2:])
            self.value[i] = out.new_empty(self.rows, c)
            self.sum[i] = out.new_empty(self.rows, c, dtype=torch.float32)
        rows = slice(self.fill, self.fill + b)
        value, _ = max_and_sum(flat, self.rectified[i], self.value[i][rows], self.sum[i][rows])
        if self.thr[i] is None:  # the batch's own stable top k lies within value >= its k-th value
            key = torch.nan_to_num(value, nan=-torch.inf)  # ranked as the merge ranks
            kth = key.topk(min(self.k, b), 0, sorted=False).values.amin(0)
            hit = key >= kth
            self.thr[i] = kth if b >= self.k else None
        else:
            hit = value > self.thr[i]
        hit = hit.view(-1).nonzero()[:, 0]  # (row, channel) of the batch, flattened
        self.where[i].append(
            flat.reshape(b * c, size).index_select(0, hit).max(1).indices
        )  # first max; max beats argmax
        self.hits[i].append(hit + self.fill * c)

    def take(self):
        """The chunk's (n, C) maxima and sums per layer, and each layer's candidates (flat index, position)."""
        n, self.fill = self.fill, 0
        out = [
            (v[:n], s[:n], torch.cat(h) if len(h) > 1 else h[0], torch.cat(w) if len(w) > 1 else w[0])
            for v, s, h, w in zip(self.value, self.sum, self.hits, self.where)
        ]
        self.hits, self.where = [[] for _ in self.slot], [[] for _ in self.slot]
        return out

    def grow(self, rows: int) -> None:
        """Room for ``rows`` rows per chunk, keeping the rows filled so far."""
        self.rows = rows
        for bufs in (self.value, self.sum):
            for i, old in enumerate(bufs):
                if old is not None:
                    bufs[i] = old.new_empty(rows, old.shape[1])
                    bufs[i][: self.fill] = old[: self.fill]


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

    def merge(self, chunk, labels: torch.Tensor) -> None:
        """Fold in the next n rows of the split: per layer (n, C) maxima and sums and the top-k candidates
        (flat indices into (n, C), argmax positions), from :meth:`_Reducer.take`; (n,) labels, or 0/1 (n, L)
        multi-label labels."""
        value = torch.cat([v for v, _, _, _ in chunk], 1).float()
        sums = torch.cat([s for _, s, _, _ in chunk], 1)
        n, t = value.shape
        width = min(self.k, self.seen + n)
        kept_column = torch.arange(t, device=value.device).repeat_interleave(self.top_value.shape[1])
        parts = [(self.top_value.reshape(-1), kept_column, self.top_index.reshape(-1), self.top_flat.reshape(-1))]
        offset = 0
        for v, _, hit, where in chunk:  # the layers: a few ops each on their candidates
            c = v.shape[1]
            parts.append((v.reshape(-1)[hit].float(), hit % c + offset, hit // c + self.seen, where))
            offset += c
        cand_value, cand_column, cand_row, cand_where = (torch.cat(p) for p in zip(*parts))  # kept entries first
        best = stable_top(cand_value, cand_column, width, t)
        self.top_value, self.top_index, self.top_flat = cand_value[best], cand_row[best], cand_where[best]
        if labels.ndim == 2:  # multi-label: every label an image carries counts it
            onehot = labels.T.float()  # (labels, n)
        else:
            onehot = (labels == torch.arange(self.n_classes, device=labels.device)[:, None]).float()  # (classes, n)
        self.class_sum += (onehot @ sums) * self.inv_size  # spatial means, scaled after the sums: no (n, T) temporary
        self.class_count += onehot.sum(1)
        self.total += sums.sum(0) * self.inv_size
        self.peak = torch.maximum(self.peak, value.amax(0))
        self.best_mean = torch.maximum(self.best_mean, sums.amax(0) * self.inv_size)  # a positive scale keeps the max
        self.max_sum += value.sum(0)
        self.max_sq += (value * value).sum(0)
        self.seen += n

    def threshold(self) -> torch.Tensor | None:
        """(T,) the k-th kept value as ranked (NaN as -inf): a later image must exceed it; None until k are kept."""
        if self.top_value.shape[1] < self.k:
            return None
        return torch.nan_to_num(self.top_value[:, -1], nan=-torch.inf)


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
    reducer = _Reducer(layers, k, [isinstance(m, (nn.ReLU, nn.ReLU6)) for m in submodules(model, layers)])
    running: _Running | None = None
    labels: list[np.ndarray] = []

    def flush():
        chunk = reducer.take()
        running.merge(chunk, torch.from_numpy(np.concatenate(labels)).to(chunk[0][0].device))
        labels.clear()
        thr = running.threshold()
        if thr is not None:
            reducer.thr = list(thr.split(channels))

    with capture(model, layers, store=reducer):
        for x, y in batches:
            b = len(x)
            if reducer.fill + b > reducer.rows:
                if reducer.fill:
                    flush()
                if b > reducer.rows:
                    reducer.grow(b)  # the first batch, or a larger one
            model(x)
            y = np.asarray(y, dtype=np.int64)
            labels.append(y if y.ndim == 2 else y.reshape(b))  # multi-label (B, L) kept as is
            reducer.fill += b
            if running is None:
                channels = [v.shape[1] for v in reducer.value]
                sizes = [int(np.prod(s)) for s in reducer.shape]
                inv = torch.cat([torch.full((c,), 1 / n) for c, n in zip(channels, sizes)])
                running = _Running.start(k, n_classes, inv.to(reducer.value[0].device))
                reducer.grow(max(b, buffer // sum(channels)))
    if running is None:
        raise ValueError("record() needs at least one batch")
    if reducer.fill:
        flush()
    return Records(layers, _per_layer(running, reducer.shape, channels))


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
