"""The one on-disk dataset layout, shared by every dataset kind.

A prepared dataset folder holds, per split in ``SPLITS``:

* ``{split}_images.npy`` -- uint8 ``(N, H, W, C)`` images (C=1 for grayscale) or float32
  ``(N, L)`` 1-D signals;
* ``{split}_labels.npy`` -- int64 ``(N,)`` class indices, or int64 0/1 ``(N, L)`` for a multi-label task
  (meta ``task``: ``multi-label``, see :mod:`posthoc.tasks`);
* ``{split}_masks.npy`` -- optional uint8 ``(N, H, W)`` ground-truth masks;

and ``meta.json``, written last, so its presence means the folder is complete.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np

from posthoc.errors import MissingInputError
from posthoc.tasks import MULTI_CLASS, TASKS
from posthoc.io import load_json, save_json, save_npy
from posthoc.mapped import row_chunks
from posthoc.paths import SPLITS

ARRAY_KEYS = ("images", "labels", "masks")
META_FILE = "meta.json"
_REMEDY = "re-run the data preparation step (posthoc.data.prepare) for this dataset"


class Split(NamedTuple):
    """One split of a prepared dataset (arrays are memory-mapped when loaded with mmap)."""

    images: np.ndarray
    labels: np.ndarray
    masks: np.ndarray | None


def array_path(datadir, split: str, key: str) -> Path:
    return Path(datadir) / f"{split}_{key}.npy"


# ---------------------------------------------------------------------------------------
# validation
# ---------------------------------------------------------------------------------------
def _validate_labels(split: str, labels: np.ndarray, n_classes: int, task: str) -> None:
    if task == MULTI_CLASS:
        if labels.dtype != np.int64 or labels.ndim != 1:
            raise ValueError(f"split '{split}': labels must be int64 (N,), got {labels.dtype} {labels.shape}")
        lo, hi = (int(labels.min()), int(labels.max())) if len(labels) else (0, 0)
        if lo < 0 or hi >= n_classes:
            raise ValueError(f"split '{split}': labels span [{lo}, {hi}] but there are {n_classes} class names")
        return
    if labels.dtype != np.int64 or labels.ndim != 2 or labels.shape[1] != n_classes:
        raise ValueError(
            f"split '{split}': multi-label labels must be int64 (N, {n_classes}), got {labels.dtype} {labels.shape}"
        )
    if len(labels) and not np.isin(labels, (0, 1)).all():
        raise ValueError(f"split '{split}': multi-label labels must be 0 or 1")


def _validate_split(split: str, arrays: Mapping[str, np.ndarray], n_classes: int, task: str = MULTI_CLASS) -> None:
    unknown = set(arrays) - set(ARRAY_KEYS)
    if unknown:
        raise ValueError(f"split '{split}': unknown arrays {sorted(unknown)}; allowed: {ARRAY_KEYS}")
    for key in ("images", "labels"):
        if key not in arrays:
            raise ValueError(f"split '{split}': missing '{key}' array")
    images, labels = arrays["images"], arrays["labels"]
    if images.dtype == np.uint8:
        if images.ndim != 4:
            raise ValueError(f"split '{split}': uint8 images must be (N,H,W,C), got shape {images.shape}")
    elif images.dtype == np.float32:
        if images.ndim != 2:
            raise ValueError(f"split '{split}': float32 signals must be (N,L), got shape {images.shape}")
    else:
        raise ValueError(f"split '{split}': images must be uint8 (N,H,W,C) or float32 (N,L), got {images.dtype}")
    if len(labels) != len(images):
        raise ValueError(f"split '{split}': {len(images)} images but {len(labels)} labels")
    if len(labels) == 0:
        raise ValueError(f"split '{split}' is empty")
    _validate_labels(split, labels, n_classes, task)
    masks = arrays.get("masks")
    if masks is not None:
        if images.ndim != 4:
            raise ValueError(f"split '{split}': masks are only supported for images")
        if masks.dtype not in (np.uint8, np.bool_) or masks.shape != images.shape[:3]:
            raise ValueError(
                f"split '{split}': masks must be uint8/bool {images.shape[:3]}, got {masks.dtype} {masks.shape}"
            )


def _validate(splits: Mapping[str, Mapping[str, np.ndarray]], n_classes: int, task: str) -> tuple[list, bool]:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
    if set(splits) != set(SPLITS):
        raise ValueError(f"splits must be exactly {SPLITS}, got {sorted(splits)}")
    for split in SPLITS:
        _validate_split(split, splits[split], n_classes, task)
    shapes = {split: tuple(splits[split]["images"].shape[1:]) for split in SPLITS}
    dtypes = {split: splits[split]["images"].dtype for split in SPLITS}
    if len(set(shapes.values())) != 1 or len(set(dtypes.values())) != 1:
        raise ValueError(f"all splits must share one per-sample shape and dtype, got {shapes} / {dtypes}")
    with_masks = [splits[split].get("masks") is not None for split in SPLITS]
    if any(with_masks) and not all(with_masks):
        raise ValueError("masks must be given for every split or for none")
    return list(shapes["train"]), all(with_masks)


# ---------------------------------------------------------------------------------------
# checksum
# ---------------------------------------------------------------------------------------
def _update_hash(h, name: str, array: np.ndarray, block: int = 1 << 24) -> None:
    h.update(f"{name}:{array.dtype.str}:{tuple(array.shape)};".encode())
    for chunk in row_chunks(array, block):  # chunks of whole rows: the same bytes in order, mapped pages released
        h.update(chunk.reshape(-1).view(np.uint8).data)


def compute_checksum(splits: Mapping[str, Mapping[str, np.ndarray]]) -> str:
    """sha256 over (name, dtype, shape, bytes) of every array, splits in ``SPLITS`` order,
    arrays in ``ARRAY_KEYS`` order; masks are hashed as uint8."""
    h = hashlib.sha256()
    for split in SPLITS:
        for key in ARRAY_KEYS:
            array = splits[split].get(key)
            if array is None:
                continue
            if key == "masks":
                array = array.astype(np.uint8, copy=False)
            _update_hash(h, f"{split}/{key}", array)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# writing
# ---------------------------------------------------------------------------------------
def write_dataset(
    outdir, name: str, kind: str, splits, class_names, source: str, params, task: str = MULTI_CLASS
) -> dict:
    """Validate ``splits`` ({split: {images, labels[, masks]}}) for ``task``, write the arrays atomically,
    then ``meta.json`` last. Returns the meta dict."""
    outdir = Path(outdir)
    class_names = [str(c) for c in class_names]
    shape, has_masks = _validate(splits, len(class_names), task)
    (outdir / META_FILE).unlink(missing_ok=True)  # the folder is incomplete until meta is rewritten
    for split in SPLITS:
        for key in ARRAY_KEYS:
            array = splits[split].get(key)
            if array is None:
                array_path(outdir, split, key).unlink(missing_ok=True)  # no stale masks
                continue
            save_npy(array_path(outdir, split, key), array.astype(np.uint8, copy=False) if key == "masks" else array)
    images = splits["train"]["images"]
    meta = {
        "name": name,
        "kind": kind,
        "task": task,
        "ndim": 1 if images.ndim == 2 else 2,
        "channels": 1 if images.ndim == 2 else int(images.shape[-1]),
        "shape": [int(s) for s in shape],
        "class_names": class_names,
        "n_samples": {split: int(len(splits[split]["labels"])) for split in SPLITS},
        "has_masks": has_masks,
        "source": source,
        "checksum": compute_checksum(splits),
        "params": dict(params),
    }
    save_json(outdir / META_FILE, meta)
    return meta


# ---------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------
def read_meta(datadir) -> dict:
    """Read ``meta.json`` of a prepared dataset folder."""
    path = Path(datadir) / META_FILE
    if not path.is_file():
        raise MissingInputError(
            f"{path} not found: the dataset in {Path(datadir)} is not prepared, or its preparation "
            f"was interrupted; {_REMEDY}"
        )
    return load_json(path)


def load_split(datadir, split: str, mmap: bool = True) -> Split:
    """Load one split; with ``mmap`` the arrays are read-only memory maps (nothing loaded whole)."""
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}'; expected one of {SPLITS}")
    meta = read_meta(datadir)
    mode = "r" if mmap else None
    arrays = {}
    for key in ARRAY_KEYS:
        path = array_path(datadir, split, key)
        if key == "masks" and not meta.get("has_masks", False):
            arrays[key] = None
            continue
        if not path.is_file():
            raise MissingInputError(f"{path} not found although {Path(datadir) / META_FILE} exists; {_REMEDY}")
        arrays[key] = np.load(path, mmap_mode=mode, allow_pickle=False)
    return Split(**arrays)


def verify_checksum(datadir) -> bool:
    """Recompute the checksum of the arrays on disk and compare it with ``meta.json``."""
    meta = read_meta(datadir)
    splits = {split: load_split(datadir, split)._asdict() for split in SPLITS}
    return compute_checksum(splits) == meta["checksum"]


# ---------------------------------------------------------------------------------------
# seeded stratified selection (used by every kind)
# ---------------------------------------------------------------------------------------
def stratified_subset(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of ``n`` samples drawn without replacement, class proportions kept
    (largest-remainder allocation). Multi-label ``(N, L)`` labels are stratified by label combination."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        labels = np.unique(labels, axis=0, return_inverse=True)[1].reshape(-1)
    if not 0 <= n <= len(labels):
        raise ValueError(f"cannot draw {n} samples from {len(labels)}")
    classes, counts = np.unique(labels, return_counts=True)
    quota = counts * (n / len(labels))
    take = np.floor(quota).astype(int)
    order = np.argsort(-(quota - take), kind="stable")
    take[order[: n - take.sum()]] += 1
    picked = [rng.choice(np.flatnonzero(labels == c), size=k, replace=False) for c, k in zip(classes, take)]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def stratified_partition(labels: np.ndarray, sizes: Mapping[str, int], rng: np.random.Generator) -> dict:
    """Split ``range(len(labels))`` into disjoint stratified parts of the given ``sizes``;
    a part with size ``None`` takes everything left (at most one)."""
    remaining = np.arange(len(labels))
    parts, rest_name = {}, None
    for part, size in sizes.items():
        if size is None:
            rest_name = part
            continue
        chosen = remaining[stratified_subset(np.asarray(labels)[remaining], int(size), rng)]
        parts[part] = chosen
        remaining = np.setdiff1d(remaining, chosen, assume_unique=True)
    if rest_name is not None:
        parts[rest_name] = remaining
    return {part: parts[part] for part in sizes}
