"""One pass over a split records what every explained layer does, in memory independent of the split's size.

Per layer and channel: the running top-k images by the channel's largest value over positions (value,
test-set row, argmax position), the per-class (multi-label: per-label, over the images carrying the label)
mean of the channel's spatial mean, and the channel's mean, max, largest spatial mean over images and the
spread of its per-image maxima (which channels are worth showing). Ties keep the earlier image first, so the
record equals a brute-force scan with a stable descending sort.

Cost: each layer's output is reduced the moment its module returns, while it is still in cache: a max and
a sum over its flattened positions (vectorised reductions; a ReLU's max as an integer max over the float
bits, see :func:`max_and_sum`). The argmax position is taken only for the entries that can still enter a
channel's top k (above the k-th value kept so far: a few per channel and batch), from the held output:
torch's max-with-index over short rows costs several times a plain max. Everything else — the stable
top-k merge (one sort of the kept entries and the candidates), the class sums (one ``index_add_``), the
statistics, NaN bookkeeping — runs once per chunk of up to ``buffer`` per-image values, on all layers'
channels side by side, so the per-batch work is a few ops per layer whatever the split's size.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
import torch
from torch import nn

from ..explain.base import capture, submodules

BUFFER = 1 << 22  # per-image values (rows × channels of all layers) held between merges


def stable_top(value: torch.Tensor, column: torch.Tensor, k: int, columns: int) -> torch.Tensor:
    """Entries of the ``k`` largest ``value`` per column, (columns, k) best first; ties keep the earlier entry.

    ``value`` (float32) and ``column`` (M,) int64 list entries in any column order, each column's own entries
    in their order of precedence; NaN ranks as -inf (below it, as ``torch.nan_to_num`` maps). Every column
    must have at least ``k`` entries. One stable sort of an int64 key (column, then the value descending,
    from the float's bits: non-negative floats order as their bits, negative ones reversed) groups each
    column's entries best first; each column's first entry is found by a binary search of the sorted keys.
    """
    bits = torch.nan_to_num(value, nan=-torch.inf).add_(0.0).view(torch.int32)  # + 0.0: -0 ties with +0
    descending = ~(bits ^ ((bits >> 31) & 0x7FFFFFFF))  # the float order as integers, reversed
    key, order = torch.sort((column << 33) + descending, stable=True)  # column c's keys: c * 2^33 ± 2^31
    starts = torch.searchsorted(key, (torch.arange(columns, device=key.device) << 33) - (1 << 31))
    return order[starts[:, None] + torch.arange(k, device=key.device)]


def max_and_sum(flat: torch.Tensor, rectified: bool, nan: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Max and float32 sum over the last axis of (B, C, P).

    ``rectified``: the values are a ReLU's, never negative but -0 and NaN. Non-negative floats order as
    their bits do as int32, and an integer max is vectorised without the float max's NaN checks (3x
    faster): -0 then loses to +0 (an equal value), and a NaN of either sign, which the sum shows, is put
    back — unless ``nan`` is False, for a caller that puts it back later (see :func:`restore_nan`).
    """
    sums = torch.sum(flat, -1, dtype=torch.float32)
    if rectified and flat.dtype == torch.float32:
        value = torch.amax(flat.view(torch.int32), -1).view(torch.float32)
        if nan:
            restore_nan(value, sums)
    else:
        value = torch.amax(flat, -1)  # vectorised: several times faster than max-with-index
    return value, sums


def restore_nan(value: torch.Tensor, sums: torch.Tensor, columns: torch.Tensor | None = None) -> None:
    """Put NaN back into a ReLU's integer-max maxima where the sum shows one (a ReLU's sum has no inf - inf);
    ``columns`` (bool, last axis) limits it to the ReLUs' channels."""
    nan = sums.isnan()
    value.masked_fill_(nan if columns is None else nan & columns, torch.nan)


class _Reducer:
    """Store of :func:`capture` that reduces each layer's output as its module returns.

    Per layer and batch only the (B, C) max and sum over positions are kept for the next merge, and the
    top-k candidates: the (row, channel) entries that can still enter a channel's top k — above ``thr``, the
    k-th value kept so far (a tie goes to the earlier image), or, while none is kept, at or above the
    batch's own k-th value — with their argmax positions, taken from the held output. A ReLU's
    NaN maxima are put back once per chunk (:meth:`take`): until then a positive NaN reads as NaN and a
    negative one as its row's largest other value, which can only add a candidate.
    """

    def __init__(self, layers: Sequence[str], k: int, rectified: Sequence[bool]):
        self.slot = {name: i for i, name in enumerate(layers)}
        self.k = k
        self.rectified = list(rectified)  # the layer's output is a ReLU's: no negative values but -0 and NaN
        n = len(layers)
        self.value: list[list] = [[] for _ in range(n)]  # per layer, per batch (B, C) dtype of the output
        self.sum: list[list] = [[] for _ in range(n)]  # per layer, per batch (B, C) float32
        self.hits: list = []  # per batch and layer: flat (row, channel) indices into the batch's (B, C)
        self.where: list = []  # their flat argmax positions
        self.pieces: list[tuple[int, int]] = []  # per batch and layer: (layer, rows of the chunk before the batch)
        self.thr: list = [None] * n  # (C,) a later image must exceed it to enter the top k; None at first
        self.shape: list[tuple[int, ...]] = [()] * n
        self.channels: list[int] = [0] * n
        self.offsets: list[int] = []  # each layer's first column among all layers' channels
        self.rectified_columns: torch.Tensor | None = None  # (T,) bool: the ReLUs' channels among all layers'
        self.fill = 0

    def __setitem__(self, name: str, out: torch.Tensor) -> None:
        i = self.slot[name]
        flat = out.flatten(2)  # a view of a contiguous output
        b, c, size = flat.shape
        thr = self.thr[i]
        value, sums = max_and_sum(flat, self.rectified[i], nan=thr is None)
        if thr is None:  # the batch's own stable top k lies within value >= its k-th value
            self.shape[i], self.channels[i] = tuple(out.shape[2:]), c
            key = torch.nan_to_num(value, nan=-torch.inf)  # ranked as the merge ranks
            if b >= self.k:
                thr = self.thr[i] = key.topk(self.k, 0, sorted=False).values.amin(0)
                hit = key >= thr
            else:
                hit = key >= -torch.inf
        else:
            hit = value > thr
        hit = hit.view(-1).nonzero().view(-1)  # (row, channel) of the batch, flattened
        self.where.append(flat.reshape(b * c, size).index_select(0, hit).max(1).indices)  # first max; max beats argmax
        self.hits.append(hit)
        self.pieces.append((i, self.fill))
        self.value[i].append(value)
        self.sum[i].append(sums)

    def seen_all(self) -> None:
        """After the first batch, when every layer's channels are known: their columns side by side."""
        self.offsets = np.cumsum([0, *self.channels[:-1]]).tolist()
        device = self.hits[0].device
        self.rectified_columns = torch.tensor(np.repeat(self.rectified, self.channels), device=device)

    def take(self):
        """The chunk's (n, T) maxima and sums of all layers' channels side by side, the sums' (T,) totals, and
        its top-k candidates: row of the chunk, column and argmax position; empties the chunk."""
        value, sums = (
            torch.cat([torch.cat(p) if len(p) > 1 else p[0] for p in parts], 1) for parts in (self.value, self.sum)
        )
        total = sums.sum(0)  # a ReLU channel's total is NaN exactly where one of its maxima must be
        if any(self.rectified) and value.dtype == torch.float32 and (total.isnan() & self.rectified_columns).any():
            restore_nan(value, sums, self.rectified_columns)
        hits, where = torch.cat(self.hits), torch.cat(self.where)
        piece = torch.tensor(  # per piece: channels, first row, first column; repeated for each of its entries
            [(self.channels[i], fill, self.offsets[i]) for i, fill in self.pieces], device=hits.device
        ).repeat_interleave(torch.tensor([len(h) for h in self.hits], device=hits.device), 0, output_size=len(hits))
        row = hits // piece[:, 0] + piece[:, 1]
        column = hits % piece[:, 0] + piece[:, 2]
        for parts in (*self.value, *self.sum, self.hits, self.where, self.pieces):
            parts.clear()
        self.fill = 0
        return value, sums, total, row, column, where


@dataclass
class _Running:
    """Running statistics of all layers' channels side by side (T = channels of all layers); sums of
    spatial sums, scaled to spatial means once at the end."""

    k: int
    top_value: torch.Tensor  # (T, k') float32, best first
    top_index: torch.Tensor  # (T, k') int64 rows of the split
    top_flat: torch.Tensor  # (T, k') int64 flat argmax position
    class_sum: torch.Tensor  # (classes, T) sum of spatial sums
    class_count: torch.Tensor  # (classes,)
    total: torch.Tensor  # (T,) sum of spatial sums
    peak: torch.Tensor  # (T,) max over everything
    best_sum: torch.Tensor  # (T,) largest spatial sum over images
    max_sum: torch.Tensor  # (T,) sum / sum of squares of per-image maxima
    max_sq: torch.Tensor
    seen: int = 0

    @classmethod
    def start(cls, k: int, n_classes: int, t: int, device) -> "_Running":
        empty = lambda dtype: torch.empty(t, 0, dtype=dtype, device=device)  # noqa: E731
        zeros = torch.zeros(3, t, device=device)
        lowest = torch.full((2, t), -torch.inf, device=device)
        return cls(
            k,
            empty(torch.float32),
            empty(torch.int64),
            empty(torch.int64),
            torch.zeros(n_classes, t, device=device),
            torch.zeros(n_classes, device=device),
            zeros[0],
            lowest[0],
            lowest[1],
            zeros[1],
            zeros[2],
        )

    def merge(self, value, sums, total, row, column, where, labels: torch.Tensor) -> None:
        """Fold in the next n rows of the split, from :meth:`_Reducer.take`: (n, T) maxima and sums, (T,) sums
        over the rows, the top-k candidates' rows, columns and argmax positions; (n,) labels, or 0/1 (n, L)
        multi-label labels."""
        value = value.float()
        n, t = value.shape
        width = min(self.k, self.seen + n)
        cand = (value[row, column], column, row + self.seen, where)
        kept = self.top_value.shape[1]
        if kept:  # kept entries first: they precede the chunk's
            column = torch.arange(t, device=value.device).repeat_interleave(kept)
            old = (self.top_value.reshape(-1), column, self.top_index.reshape(-1), self.top_flat.reshape(-1))
            cand = tuple(torch.cat(p) for p in zip(old, cand))
        best = stable_top(cand[0], cand[1], width, t)
        self.top_value, self.top_index, self.top_flat = cand[0][best], cand[2][best], cand[3][best]
        if labels.ndim == 2:  # multi-label: every label an image carries counts it
            self.class_sum.addmm_(labels.T.float(), sums)
            self.class_count += labels.sum(0)
        else:
            self.class_sum.index_add_(0, labels, sums)
            self.class_count += torch.bincount(labels, minlength=len(self.class_count))
        self.total += total
        torch.maximum(self.peak, value.amax(0), out=self.peak)
        torch.maximum(self.best_sum, sums.amax(0), out=self.best_sum)
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
    rows = 0  # the most rows a chunk holds, set by the first batch

    def flush():
        chunk = reducer.take()
        running.merge(*chunk, torch.from_numpy(np.concatenate(labels)).to(chunk[0].device))
        labels.clear()
        thr = running.threshold()
        if thr is not None:
            reducer.thr = list(thr.split(reducer.channels))

    with capture(model, layers, store=reducer):
        for x, y in batches:
            b = len(x)
            if reducer.fill and reducer.fill + b > rows:
                flush()
            model(x)
            y = np.asarray(y, dtype=np.int64)
            labels.append(y if y.ndim == 2 else y.reshape(b))  # multi-label (B, L) kept as is
            if running is None:
                reducer.seen_all()
                t = sum(reducer.channels)
                running = _Running.start(k, n_classes, t, reducer.hits[0].device)
                rows = max(b, buffer // t)
            reducer.fill += b
    if running is None:
        raise ValueError("record() needs at least one batch")
    if reducer.fill:
        flush()
    return Records(layers, _per_layer(running, reducer.shape, reducer.channels))


def _per_layer(r: _Running, shapes, channels) -> list[dict[str, np.ndarray]]:
    """Scale the sums to spatial means and split the side-by-side statistics into one dict per layer (NumPy:
    a few small arrays, once)."""
    raw = {key: getattr(r, key).cpu().numpy() for key in _Running.__annotations__ if key not in ("k", "seen")}
    inv_size = np.repeat([1 / max(int(np.prod(s)), 1) for s in shapes], channels).astype(np.float32)
    mean_max = raw["max_sum"] / r.seen
    whole = {
        "index": raw["top_index"],
        "value": raw["top_value"],
        "class_mean": (raw["class_sum"] * inv_size / np.maximum(raw["class_count"], 1)[:, None]).T,
        "mean": raw["total"] * inv_size / np.float32(r.seen),
        "max": raw["peak"],
        "best_mean": raw["best_sum"] * inv_size,  # a positive scale keeps the max
        "max_std": np.sqrt(np.maximum(raw["max_sq"] / r.seen - mean_max**2, 0)).astype(np.float32),
    }
    flat = raw["top_flat"]
    bounds = np.cumsum([0, *channels])
    out = []
    for shape, lo, hi in zip(shapes, bounds[:-1], bounds[1:]):
        part = {key: v[lo:hi] for key, v in whole.items()}
        part["position"] = (
            np.stack(np.unravel_index(flat[lo:hi], shape), -1) if shape else np.zeros((hi - lo, flat.shape[1], 0))
        ).astype(np.int64)  # (C, k, ndim)
        out.append(part)
    return out


def most_variable(max_std: np.ndarray, n: int) -> np.ndarray:
    """The ``n`` channels whose per-image maxima spread most (the selective ones), largest first."""
    return np.argsort(-np.asarray(max_std), kind="stable")[:n].astype(np.int64)
