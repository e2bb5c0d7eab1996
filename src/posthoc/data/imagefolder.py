"""A folder of class sub-folders (e.g. Kather-2016 histology tiles) -> the posthoc layout.

Class names are the sorted sub-folder names; images are read with Pillow, converted to RGB
(or kept grayscale when every image is single-channel), resized to ``image_size`` squared,
and split into train/val/test, stratified and seeded; each split is shuffled (the files are
listed class by class, and "the first n test images" must not be one class).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from posthoc.data.layout import stratified_partition

DEFAULTS = {
    "kind": "imagefolder",
    "root": None,
    "image_size": 128,
    "val_fraction": 0.1,
    "test_fraction": 0.1,
    "extensions": [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"],
}
_GRAY_MODES = {"1", "L", "I", "I;16", "I;16B", "I;16L", "F"}


def scan(root, extensions, name: str = "<name>") -> tuple[list[str], list[Path], np.ndarray]:
    """(class_names, files, labels) of an image folder; clear errors for missing/empty parts."""
    key = f"datasets.{name}.data.root"
    if root is None:
        raise ValueError(f"{key} is not set; give the folder that holds one sub-folder per class")
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{key}: folder {root} does not exist; point it at a folder of class sub-folders")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise ValueError(f"{key}: {root} has no class sub-folders; expected {root}/<class>/<image files>")
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    files, labels = [], []
    for label, cls in enumerate(classes):
        found = sorted(p for p in (root / cls).rglob("*") if p.is_file() and p.suffix.lower() in exts)
        if not found:
            raise ValueError(f"{key}: class folder {root / cls} has no images with extensions {sorted(exts)}")
        files += found
        labels += [label] * len(found)
    return classes, files, np.asarray(labels, dtype=np.int64)


def _to_uint8(img, gray: bool) -> np.ndarray:
    """A Pillow image as uint8 (H, W) (gray) or (H, W, 3); 16-bit/float gray rescaled."""
    if gray and img.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        arr = np.asarray(img, dtype=np.float64)
        top = 65535.0 if arr.max() > 255 else 1.0 if img.mode == "F" and arr.max() <= 1 else 255.0
        return np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.asarray(img.convert("L" if gray else "RGB"))


def read_image(path: Path, size: int, gray: bool) -> np.ndarray:
    """One image as uint8 (size, size, C), antialiased bilinear resize."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            arr = _to_uint8(img, gray)
    except (OSError, ValueError) as err:
        raise ValueError(f"cannot read image {path} ({err}); remove or replace the file") from err
    if arr.shape[:2] != (size, size):
        pil = Image.fromarray(arr)
        arr = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))
    return arr[..., None] if gray else arr


def _all_gray(files: list[Path]) -> bool:
    from PIL import Image

    for path in files:
        try:
            with Image.open(path) as img:  # reads the header only
                if img.mode not in _GRAY_MODES:
                    return False
        except OSError as err:
            raise ValueError(f"cannot read image {path} ({err}); remove or replace the file") from err
    return True


def check(name: str, p: dict) -> None:
    key = f"datasets.{name}.data"
    if int(p["image_size"]) < 8:
        raise ValueError(f"{key}.image_size must be >= 8, got {p['image_size']}")
    fv, ft = float(p["val_fraction"]), float(p["test_fraction"])
    if fv <= 0 or ft <= 0 or fv + ft >= 1:
        raise ValueError(f"{key}.val_fraction and .test_fraction must be > 0 with a sum < 1, got {fv}, {ft}")


def build(name: str, params: dict, seed: int, workdir=None):
    check(name, params)
    classes, files, labels = scan(params["root"], params["extensions"], name)
    n = len(files)
    sizes = {"val": round(params["val_fraction"] * n), "test": round(params["test_fraction"] * n), "train": None}
    if min(sizes["val"], sizes["test"], n - sizes["val"] - sizes["test"]) < 1:
        raise ValueError(f"datasets.{name}.data.root: {params['root']} has only {n} images, too few for 3 splits")
    rng = np.random.default_rng([seed, 0])
    parts = {split: rng.permutation(idx) for split, idx in stratified_partition(labels, sizes, rng).items()}
    gray, size = _all_gray(files), int(params["image_size"])
    images = np.empty((n, size, size, 1 if gray else 3), np.uint8)
    for i, path in enumerate(files):
        images[i] = read_image(path, size, gray)
    splits = {split: {"images": images[idx], "labels": labels[idx]} for split, idx in parts.items()}
    source = f"image folder {Path(params['root']).resolve()} ({n} files, {len(classes)} classes)"
    return {s: splits[s] for s in ("train", "val", "test")}, classes, source
