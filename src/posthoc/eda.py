"""Exploratory data analysis: the numbers behind the EDA figures and ``stats.json``.

Computations only (no plotting). Everything works on memory-mapped splits chunk by chunk,
so a 4 GB training split is never loaded whole.
"""

from __future__ import annotations

import warnings

import numpy as np

from posthoc.data.layout import load_split, read_meta
from posthoc.paths import SPLITS

_CONSTANT_STD = 1e-12  # a std at or below this (float rounding of 0) marks a constant channel
_MAX_VALUES_PER_CHUNK = 1 << 23  # bounds the temporary memory of one chunk (~64 MB as int64)


def class_counts(labels, n_classes: int) -> np.ndarray:
    """Number of samples per class, int64 (n_classes,); for multi-label 0/1 ``(N, L)`` labels, the number of
    samples carrying each label."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] != 1:
        if labels.shape[1] != n_classes:
            raise ValueError(f"labels have {labels.shape[1]} columns, expected {n_classes}")
        return labels.sum(0, dtype=np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels span [{labels.min()}, {labels.max()}], outside [0, {n_classes - 1}]")
    return np.bincount(labels.astype(np.int64), minlength=n_classes).astype(np.int64)


def first_per_class(labels, n_classes: int) -> np.ndarray:
    """Index of the first sample of each class (multi-label: carrying each label; -1 where absent), int64."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] != 1:
        present = labels.astype(bool)
        return np.where(present.any(0), present.argmax(0), -1).astype(np.int64)
    out = np.full(n_classes, -1, dtype=np.int64)
    values, first = np.unique(labels, return_index=True)
    inside = (values >= 0) & (values < n_classes)
    out[values[inside].astype(np.int64)] = first[inside]
    return out


def co_occurrence(labels) -> np.ndarray:
    """``(L, L)`` int64: entry (i, j) counts the samples carrying both label i and label j (diagonal: label i)."""
    labels = np.asarray(labels, dtype=np.int64)
    return labels.T @ labels


def _chunks(n: int, per_sample: int, chunk: int):
    step = max(1, min(int(chunk), _MAX_VALUES_PER_CHUNK // max(per_sample, 1)))
    for start in range(0, n, step):
        yield slice(start, min(start + step, n))


def _uint8_mean_std(images, chunk: int) -> tuple[list[float], list[float]]:
    """Exact per-channel statistics from 256-bin histograms, values scaled to [0, 1]."""
    n_ch = images.shape[-1]
    hist = np.zeros((n_ch, 256), dtype=np.int64)
    for sl in _chunks(len(images), int(np.prod(images.shape[1:])), chunk):
        block = np.asarray(images[sl])
        for c in range(n_ch):
            hist[c] += np.bincount(block[..., c].ravel(), minlength=256)
    values = np.arange(256, dtype=np.float64) / 255.0
    total = hist.sum(axis=1).astype(np.float64)
    mean = hist @ values / total
    var = (hist * (values[None, :] - mean[:, None]) ** 2).sum(axis=1) / total
    return mean.tolist(), np.sqrt(var).tolist()


def _signal_mean_std(signals, chunk: int) -> tuple[list[float], list[float]]:
    """Scalar mean/std over all values, merged chunk by chunk (Chan et al.) in float64."""
    n, mean, m2 = 0, 0.0, 0.0
    for sl in _chunks(len(signals), int(np.prod(signals.shape[1:])), chunk):
        block = np.asarray(signals[sl], dtype=np.float64)
        nb, mb = block.size, float(block.mean())
        m2b = float(((block - mb) ** 2).sum())
        delta, tot = mb - mean, n + nb
        mean, m2, n = mean + delta * nb / tot, m2 + m2b + delta**2 * n * nb / tot, tot
    return [mean], [float(np.sqrt(m2 / n))]


def channel_mean_std(images, chunk: int = 4096) -> tuple[list[float], list[float]]:
    """Per-channel mean and (population) std: uint8 (N,H,W,C) images scaled to [0, 1], or one
    scalar for float (N,L) signals (unscaled). Reads at most ``chunk`` samples at a time."""
    if len(images) == 0:
        raise ValueError("cannot compute statistics of an empty array")
    if images.dtype == np.uint8 and images.ndim == 4:
        return _uint8_mean_std(images, chunk)
    if np.issubdtype(images.dtype, np.floating) and images.ndim == 2:
        return _signal_mean_std(images, chunk)
    raise TypeError(f"expected uint8 (N,H,W,C) images or float (N,L) signals, got {images.dtype} {images.shape}")


def safe_std(std, name: str = "<dataset>") -> tuple[list[float], list[int]]:
    """``std`` with every zero (constant channel) replaced by 1, and the indices replaced, with a warning.

    A channel that is constant over the training split carries no information; dividing by its std of 0
    would make it NaN/inf. Replacing 0 by 1 only centres it (the training inputs of that channel become 0),
    and a test image whose channel differs stays bounded (x - mean in [-1, 1]). A small epsilon instead
    would multiply any such difference by 1/epsilon, so it is not used.
    """
    std = [float(s) for s in std]
    if not all(np.isfinite(std)):
        raise ValueError(f"dataset {name}: training statistics are not finite (std {std})")
    constant = [c for c, s in enumerate(std) if s <= _CONSTANT_STD]
    if constant:
        warnings.warn(
            f"dataset {name}: channel(s) {constant} are constant over the training split (std 0); they are "
            "centred but not scaled (std set to 1), so they carry no information into the model",
            stacklevel=2,
        )
        print(f"warning: dataset {name}: constant channel(s) {constant}; std set to 1 (centred only)")
    return [1.0 if c in constant else s for c, s in enumerate(std)], constant


def dataset_stats(datadir) -> dict:
    """What goes in ``stats.json``: train mean/std, class counts and sizes per split, shape,
    and ``pixel_scale`` (255 for uint8 images, 1 for signals)."""
    meta = read_meta(datadir)
    n_classes = len(meta["class_names"])
    train = load_split(datadir, "train")
    mean, std = channel_mean_std(train.images)
    std, constant = safe_std(std, name=meta["name"])
    labels = {split: load_split(datadir, split).labels for split in SPLITS}
    counts = {split: class_counts(labels[split], n_classes).tolist() for split in SPLITS}
    return {
        "name": meta["name"],
        "class_names": meta["class_names"],
        "mean": mean,
        "std": std,
        "class_counts": counts,
        "task": meta.get("task", "multi-class"),
        "n_samples": {split: int(len(labels[split])) for split in SPLITS},
        "shape": list(meta["shape"]),
        "pixel_scale": 255.0 if train.images.dtype == np.uint8 else 1.0,
        "constant_channels": constant,
    }
