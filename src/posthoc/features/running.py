"""Running per-channel statistics of one layer's output, folded in batch by batch.

Per channel: the top k images by the channel's largest value over positions (value, split row, first argmax
position; ties keep the earlier image, NaN ranks as -inf), the per-class sums of the channel's spatial sum
and the images per class, the sum and largest spatial sum, and the sum and sum of squares of the per-image
maxima. Memory does not depend on the split's size; the result equals a brute-force scan with a stable
descending sort.

Cost: one compiled call per layer and batch (numba). :func:`_fold_output` reads the output once, images in
parallel: each (image, channel) row's max (an integer max over order-preserving keys of the float bits,
which vectorises and needs no NaN test per element: a NaN shows in the row's sum) and sum, and, for the few
rows whose max can still enter the channel's top k, the argmax position; :func:`_fold` then merges the
(B, C) results into the record, one channel after another in image order, so the result does not depend on
the thread count. With torch ops the same is a max, a sum, a compare, a nonzero, a gather, a max-with-index
and a sort-based merge: a few dozen dispatches over small tensors per layer and batch, which cost more than
the convolutions of the default study's 1-D CNN. Other devices and dtypes reduce with torch and fold alike.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from numba import njit, prange


@njit(parallel=True, nogil=True, cache=True, fastmath={"reassoc"}, boundscheck=False)
def _fold_output(x, row0, label, labels, kept, thr, top, index, flat, class_sum, count, stats, nan):  # pragma: no cover
    """Fold a batch's (B, C, P) float32 output into the record: per row (i, c), images in parallel, the max
    (NaN if the row holds one), the sum and — where the max ranks above ``thr[c]`` (NaN ranks as -inf) — the
    first position of the max (of the first NaN in a NaN row); then :func:`_fold`. One call per layer and
    batch: the interpreter's work between the layers costs more than it seems (their outputs evict it)."""
    n, channels, size = x.shape
    value = np.empty((n, channels), np.float32)
    sums = np.empty((n, channels), np.float32)
    where = np.empty((n, channels), np.int64)
    locate = kept[0] == top.shape[1]  # every channel sees every image: all fill alike
    bits = x.view(np.int32)
    value_bits = value.view(np.int32)
    for i in prange(n):
        for c in range(channels):
            most = np.int32(-2147483648)
            total = np.float32(0.0)
            for p in range(size):
                b = bits[i, c, p]
                most = max(most, b ^ ((b >> 31) & 0x7FFFFFFF))  # floats order as these keys; NaNs at the ends
                total += x[i, c, p]
            value_bits[i, c] = most ^ ((most >> 31) & 0x7FFFFFFF)  # the key back to the float's bits
            sums[i, c] = total
            v = value[i, c]
            if total != total:  # a NaN in the row, or inf - inf
                for p in range(size):
                    if x[i, c, p] != x[i, c, p]:
                        v = np.float32(np.nan)
                        value[i, c] = v
                        break
            w = -1
            if locate and not (_rank(v) <= thr[c]):
                w = _first(x, i, c, v)
            where[i, c] = w
    if not locate:  # the top k is still filling (thr NaN): positions where the max ranks at least as high
        k = top.shape[1]  # as the batch's own k-th in the channel (below it, k of the batch's images rank
        kth = np.full(channels, -np.inf)  # higher), not at every row, which costs twice the reductions
        if n >= k:
            for c in prange(channels):
                best = np.full(k, -np.inf)  # the channel's k largest of the batch
                for i in range(n):
                    key = _rank(value[i, c])
                    if key > best[k - 1]:
                        j = k - 1
                        while j > 0 and best[j - 1] < key:
                            best[j] = best[j - 1]
                            j -= 1
                        best[j] = key
                kth[c] = best[k - 1]
        for i in prange(n):
            for c in range(channels):
                v = value[i, c]
                key = _rank(v)
                where[i, c] = _first(x, i, c, v) if not (key <= thr[c]) and key >= kth[c] else -1
    return _fold(value, sums, where, row0, label, labels, kept, thr, top, index, flat, class_sum, count, stats, nan)


@njit
def _rank(v):  # pragma: no cover - compiled
    """A max as the top k ranks it: NaN as -inf (a scalar helper: compiled inline)."""
    return -np.inf if v != v else v


@njit(inline="always")
def _first(x, i, c, v):  # pragma: no cover - compiled
    """The first position of ``v`` in row (i, c) of ``x`` (of the first NaN if ``v`` is NaN)."""
    for p in range(x.shape[2]):
        if (x[i, c, p] != x[i, c, p]) if v != v else (x[i, c, p] == v):
            return p
    return -1


@njit(nogil=True, cache=True, boundscheck=False)
def _fold(
    value, sums, where, row0, label, labels, kept, thr, top, index, flat, class_sum, count, stats, nan
):  # pragma: no cover
    """Fold a batch's (B, C) maxima, sums and argmax positions (-1 where the entry cannot enter the top k: at
    or below ``thr``, or below the batch's own k-th) into the record (arguments as :class:`Running` holds
    them); returns -1, or the batch row whose label is out of range. The per-entry work is branch-free across
    channels (it vectorises); the insertion runs only for a row with an entry above a channel's k-th kept
    value (``thr``, NaN while fewer than k are kept). The loop body calls no helper taking arrays: such a
    call costs more than the update (measured 10x)."""
    n, channels = value.shape
    k = top.shape[1]
    for i in range(n):
        if labels.shape[1]:  # multi-label: every label the image carries counts it
            for j in range(labels.shape[1]):
                if labels[i, j]:
                    count[j] += 1
                    for c in range(channels):
                        class_sum[j, c] += sums[i, c]
        else:
            cls = label[i]
            if cls < 0 or cls >= class_sum.shape[0]:
                return i
            count[cls] += 1
            for c in range(channels):
                class_sum[cls, c] += sums[i, c]
        enter = False
        for c in range(channels):
            s = np.float64(sums[i, c])
            v = value[i, c]
            stats[0, c] += s
            stats[1, c] = s if s > stats[1, c] else stats[1, c]
            stats[2, c] += v
            stats[3, c] += np.float64(v) * v
            nan[0, c] |= v != v
            nan[1, c] |= s != s
            enter |= not (_rank(v) <= thr[c])
        if not enter:
            continue
        for c in range(channels):
            v = value[i, c]
            key = _rank(v)
            if key <= thr[c] or where[i, c] < 0:  # -1: not among the batch's own top k (see _fold_output)
                continue
            m = kept[c]
            j = min(m, k - 1)
            while j > 0 and _rank(top[c, j - 1]) < key:  # after ties
                top[c, j] = top[c, j - 1]
                index[c, j] = index[c, j - 1]
                flat[c, j] = flat[c, j - 1]
                j -= 1
            top[c, j] = v
            index[c, j] = row0 + i
            flat[c, j] = where[i, c]
            kept[c] = min(m + 1, k)
            if kept[c] == k:
                last = top[c, k - 1]
                thr[c] = _rank(last)
    return -1


@njit(nogil=True, cache=True)
def _summary(top, class_sum, count, stats, nan, size, seen):  # pragma: no cover - compiled
    """(C, classes) class means of the spatial mean, and (4, C) the spatial mean over the split, the max, the
    largest spatial mean and the spread of the per-image maxima, float32 (one call: a dozen NumPy calls on
    small arrays cost more)."""
    classes, channels = class_sum.shape
    class_mean = np.empty((channels, classes), np.float32)
    for j in range(classes):
        scale = 1.0 / size / max(count[j], 1.0)
        for c in range(channels):
            class_mean[c, j] = class_sum[j, c] * scale
    out = np.empty((4, channels), np.float32)
    for c in range(channels):
        out[0, c] = stats[0, c] / (size * seen)
        out[1, c] = np.nan if nan[0, c] else top[c, 0]  # the best kept max, NaN where a max was NaN
        out[2, c] = np.nan if nan[1, c] else stats[1, c] / size  # a positive scale keeps the max
        mean_max = stats[2, c] / seen
        out[3, c] = np.sqrt(max(stats[3, c] / seen - mean_max * mean_max, 0.0))
    return class_mean, out


class Running:
    """One layer's running record, top ``k`` per channel of its (C, *spatial) ``shape`` output (without the
    batch axis); :meth:`fold` each batch's output in split order."""

    def __init__(self, shape: tuple[int, ...], k: int, n_classes: int):
        if k < 1:
            raise ValueError(f"the record keeps the top k >= 1 images per channel; got k={k}")
        channels, *spatial = shape
        self.spatial = tuple(spatial)
        self.kept = np.zeros(channels, np.int64)
        self.thr = np.full(channels, np.nan)  # a later image must exceed it to enter; NaN until k are kept
        self.top = np.zeros((channels, k), np.float32)
        self.index = np.zeros((channels, k), np.int64)
        self.flat = np.zeros((channels, k), np.int64)  # flat argmax position
        self.class_sum = np.zeros((n_classes, channels))  # sums of spatial sums
        self.count = np.zeros(n_classes)  # images per class
        # sum of spatial sums, largest spatial sum, sum and sum of squares of the per-image maxima
        self.stats = np.zeros((4, channels))
        self.stats[1] = -np.inf
        self.nan = np.zeros((2, channels), np.bool_)  # a NaN max, a NaN spatial sum seen
        self._state = (
            self.kept,
            self.thr,
            self.top,
            self.index,
            self.flat,
            self.class_sum,
            self.count,
            self.stats,
            self.nan,
        )

    def fold(self, out: torch.Tensor, row0: int, label: np.ndarray, labels: np.ndarray) -> None:
        """Fold a batch's (B, C, ...) output whose first row of the split is ``row0``, with its classes ``label``
        (B,) int64 in [0, classes) — or, multi-label, ``labels`` (B, L) 0/1 (then ``label`` is ignored; else
        (0, 0))."""
        x = out.flatten(2)
        if x.is_cpu and x.dtype == torch.float32:
            bad = _fold_output(x.contiguous().numpy(), row0, label, labels, *self._state)
        else:
            bad = self._fold_torch(x, row0, label, labels)
        if bad >= 0:
            raise ValueError(f"row {row0 + bad} of the split has label {label[bad]}, outside [0, {len(self.count)})")

    def _fold_torch(self, x: torch.Tensor, row0: int, label: np.ndarray, labels: np.ndarray) -> int:
        """Other devices and dtypes: torch's reductions on the output's device, then the same fold."""
        value = torch.amax(x, -1)  # NaN-propagating
        sums = torch.sum(x, -1, dtype=torch.float32)
        # first position of the max, or of the first NaN in a NaN row
        where = torch.where(x.isnan(), 1, (x == value[..., None]).to(torch.int8)).argmax(-1)
        return _fold(*[t.cpu().numpy() for t in (value.float(), sums, where)], row0, label, labels, *self._state)

    def summary(self, seen: int) -> tuple[np.ndarray, np.ndarray]:
        """See :func:`_summary`; ``seen`` images folded."""
        size = max(math.prod(self.spatial), 1)
        return _summary(self.top, self.class_sum, self.count, self.stats, self.nan, size, seen)


def use_threads(n: int) -> None:
    """Run :func:`_fold_output` on ``n`` threads (torch's count), at most on the pool numba starts.

    numba's OpenMP layer can share torch's OpenMP runtime, and starting its pool sets the runtime's thread
    count to the pool's size: torch's count is set back to ``n`` after it."""
    numba.set_num_threads(max(1, min(n, numba.config.NUMBA_NUM_THREADS)))
    torch.set_num_threads(n)
