"""A folder of class sub-folders (e.g. Kather-2016 histology tiles) -> the posthoc layout.

Class names are the sorted sub-folder names; images are read with Pillow, converted to RGB
(or kept grayscale when every image is single-channel; 16-bit greyscale scaled by its range, modes
without an exact conversion refused by name), resized to ``image_size`` squared,
and split into train/val/test, stratified and seeded; each split is shuffled (the files are
listed class by class, and "the first n test images" must not be one class).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from posthoc.data.layout import stratified_partition
from posthoc.errors import DataError

DEFAULTS = {
    "kind": "imagefolder",
    "root": None,
    "image_size": 128,
    "val_fraction": 0.1,
    "test_fraction": 0.1,
    "extensions": [".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"],
}
# Pillow modes read as 8 bits per channel and converted exactly by ``Image.convert`` (alpha is dropped: the
# stored colour values are kept as they are).
_EIGHT_BIT_MODES = {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr"}
# Single-channel high-bit-depth modes: 16-bit unsigned (and "I", 32-bit int, as Pillow opens 16-bit PNGs)
# rescaled by their nominal range 0..65535 -> 0..255, never clipped by ``convert``.
_SIXTEEN_BIT_MODES = {"I;16", "I;16B", "I;16L", "I;16N", "I"}
_GRAY_MODES = {"1", "L", "LA", "La"} | _SIXTEEN_BIT_MODES
SUPPORTED_MODES = sorted(_EIGHT_BIT_MODES | _SIXTEEN_BIT_MODES)


def _root_key(name: str) -> str:
    return f"datasets.{name}.data.root"


def check_root(root, name: str = "<name>") -> tuple[Path, list[str]]:
    """The root folder and its class sub-folder names; a DataError naming the key and the remedy otherwise."""
    key = _root_key(name)
    if root is None:
        raise DataError(f"{key} is not set; give the folder that holds one sub-folder per class")
    root = Path(root)
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataError(
            f"{key}: folder {root} {what} (relative paths start at the workflow's working directory "
            f"{Path.cwd()}); point {key} at a folder of class sub-folders, e.g. {root}/<class>/<image files>"
        )
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{key}: {root} has no class sub-folders; expected {root}/<class>/<image files>")
    return root, classes


def scan(root, extensions, name: str = "<name>") -> tuple[list[str], list[Path], np.ndarray]:
    """(class_names, files, labels) of an image folder; clear errors for missing/empty parts."""
    key = _root_key(name)
    root, classes = check_root(root, name)
    exts = {e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions}
    files, labels = [], []
    for label, cls in enumerate(classes):
        found = sorted(p for p in (root / cls).rglob("*") if p.is_file() and p.suffix.lower() in exts)
        if not found:
            raise DataError(f"{key}: class folder {root / cls} has no images with extensions {sorted(exts)}")
        files += found
        labels += [label] * len(found)
    return classes, files, np.asarray(labels, dtype=np.int64)


def _refuse(path: Path, mode: str, why: str) -> DataError:
    return DataError(f"image {path} has Pillow mode {mode!r} ({why}); convert it to 8-bit RGB or greyscale "
                     f"(or 16-bit greyscale) or remove it; readable modes: {', '.join(SUPPORTED_MODES)}")


def _to_uint8(img, gray: bool, path: Path = Path("<image>")) -> np.ndarray:
    """A Pillow image as uint8 (H, W) (gray) or (H, W, 3), every supported mode converted by its own range.

    16-bit greyscale is scaled by its nominal range (v * 255 / 65535) before it is repeated over RGB, so a
    16-bit image among RGB ones keeps its contrast (``convert("RGB")`` would clip it to white).
    """
    mode = img.mode
    if mode in _SIXTEEN_BIT_MODES:
        arr = np.asarray(img).astype(np.float64)
        if arr.ndim != 2:
            raise _refuse(path, mode, f"{arr.ndim}-D pixel array")
        lo, hi = (float(arr.min()), float(arr.max())) if arr.size else (0.0, 0.0)
        if lo < 0 or hi > 65535:
            raise _refuse(path, mode, f"values span [{lo:g}, {hi:g}], outside the 16-bit range 0..65535")
        grey = np.round(arr * (255.0 / 65535.0)).astype(np.uint8)
        return grey if gray else np.repeat(grey[..., None], 3, axis=-1)
    if mode not in _EIGHT_BIT_MODES:
        why = "floating-point values have no standard range" if mode == "F" else "no exact conversion to RGB"
        raise _refuse(path, mode, why)
    return np.asarray(img.convert("L" if gray else "RGB"))


def read_image(path: Path, size: int, gray: bool) -> np.ndarray:
    """One image as uint8 (size, size, C), antialiased bilinear resize."""
    from PIL import Image

    try:
        with Image.open(path) as img:
            img.load()
            arr = _to_uint8(img, gray, Path(path))
    except (OSError, SyntaxError) as err:
        raise DataError(f"cannot read image {path} ({err}); remove or replace the file") from err
    if arr.shape[:2] != (size, size):
        pil = Image.fromarray(arr)
        arr = np.asarray(pil.resize((size, size), Image.Resampling.BILINEAR))
    return arr[..., None] if gray else arr


def _all_gray(files: list[Path]) -> bool:
    from PIL import Image

    gray = True
    for path in files:
        try:
            with Image.open(path) as img:  # reads the header only
                mode = img.mode
        except OSError as err:
            raise DataError(f"cannot read image {path} ({err}); remove or replace the file") from err
        if mode not in _EIGHT_BIT_MODES | _SIXTEEN_BIT_MODES:
            raise _refuse(path, mode, "floating-point values have no standard range" if mode == "F"
                          else "no exact conversion to RGB")
        gray = gray and mode in _GRAY_MODES
    return gray


def input_size(params: dict) -> int:
    """Image side in pixels."""
    return int(params["image_size"])


def check(name: str, p: dict) -> None:
    key = f"datasets.{name}.data"
    if int(p["image_size"]) < 8:
        raise DataError(f"{key}.image_size must be >= 8, got {p['image_size']}")
    fv, ft = float(p["val_fraction"]), float(p["test_fraction"])
    if fv <= 0 or ft <= 0 or fv + ft >= 1:
        raise DataError(f"{key}.val_fraction and .test_fraction must be > 0 with a sum < 1, got {fv}, {ft}")
    check_root(p["root"], name)


def build(name: str, params: dict, seed: int, workdir=None):
    check(name, params)
    classes, files, labels = scan(params["root"], params["extensions"], name)
    n = len(files)
    sizes = {"val": round(params["val_fraction"] * n), "test": round(params["test_fraction"] * n), "train": None}
    if min(sizes["val"], sizes["test"], n - sizes["val"] - sizes["test"]) < 1:
        raise DataError(f"datasets.{name}.data.root: {params['root']} has only {n} images, too few for 3 splits")
    rng = np.random.default_rng([seed, 0])
    parts = {split: rng.permutation(idx) for split, idx in stratified_partition(labels, sizes, rng).items()}
    gray, size = _all_gray(files), int(params["image_size"])
    images = np.empty((n, size, size, 1 if gray else 3), np.uint8)
    for i, path in enumerate(files):
        images[i] = read_image(path, size, gray)
    splits = {split: {"images": images[idx], "labels": labels[idx]} for split, idx in parts.items()}
    source = f"image folder {Path(params['root']).resolve()} ({n} files, {len(classes)} classes)"
    return {s: splits[s] for s in ("train", "val", "test")}, classes, source
