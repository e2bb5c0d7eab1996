"""blockdigits: real handwritten digits on smooth backgrounds, with a distractor patch.

Built offline from scikit-learn's bundled ``load_digits()`` (1,797 real 8x8 digits). The
*source* digits are first split into train/val/test (stratified, seeded), so no source digit
appears in two splits. Each image then gets a smooth random RGB background, one source digit
upscaled to a random size and drawn in a contrasting colour at a random position, and a
class-independent textured square (the distractor) that never overlaps the digit's box.
The ground-truth mask is the digit's own pixels (upscaled intensity > ``MASK_THRESHOLD``).
"""
from __future__ import annotations

import functools

import numpy as np

from posthoc.data.layout import stratified_partition
from posthoc.errors import DataError

DEFAULTS = {
    "kind": "blockdigits",
    "image_size": 64,
    "n_train": 3000,
    "n_val": 500,
    "n_test": 1000,
    "source_fractions": {"val": 0.15, "test": 0.25},
    "digit_size": [24, 40],
    "distractor_size": 14,
}
CLASS_NAMES = [str(d) for d in range(10)]
MASK_THRESHOLD = 0.3  # of the upscaled digit intensity in [0, 1]
_BG_GRID = 4  # coarse grid of the low-frequency background field
_SPLIT_STREAM = {"train": 1, "val": 2, "test": 3}


def input_size(params: dict) -> int:
    """Image side in pixels."""
    return int(params["image_size"])


def check(name: str, p: dict) -> None:
    key = f"datasets.{name}.data"
    size, d = int(p["image_size"]), int(p["distractor_size"])
    lo, hi = (int(v) for v in p["digit_size"])
    for split in ("train", "val", "test"):
        if int(p[f"n_{split}"]) < 1:
            raise DataError(f"{key}.n_{split} must be >= 1, got {p[f'n_{split}']}")
    if not 8 <= lo <= hi:
        raise DataError(f"{key}.digit_size must be [min, max] with 8 <= min <= max, got {p['digit_size']}")
    if d < 2 or hi + d > size:
        raise DataError(
            f"{key}: digit_size max ({hi}) + distractor_size ({d}) must fit in image_size ({size}) "
            "so the distractor can always be placed beside the digit"
        )
    fr = p["source_fractions"]
    if set(fr) != {"val", "test"} or min(fr.values()) <= 0 or sum(fr.values()) >= 1:
        raise DataError(f"{key}.source_fractions must be {{val: f, test: g}} with f, g > 0, f + g < 1; got {fr}")


def split_sources(labels: np.ndarray, fractions: dict, seed: int) -> dict:
    """Disjoint stratified source-digit indices per split."""
    n = len(labels)
    sizes = {"val": round(fractions["val"] * n), "test": round(fractions["test"] * n), "train": None}
    parts = stratified_partition(labels, sizes, np.random.default_rng([seed, 0]))
    return {split: parts[split] for split in ("train", "val", "test")}


def _draw_sources(pool: np.ndarray, n: int, rng) -> np.ndarray:
    """``n`` source indices cycling through shuffled copies of ``pool`` (even reuse)."""
    reps = -(-n // len(pool))
    return np.concatenate([rng.permutation(pool) for _ in range(reps)])[:n]


def _interp_matrix(n_out: int, n_in: int) -> np.ndarray:
    """(n_out, n_in) linear-interpolation weights, pixel centres aligned."""
    pos = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
    left = np.floor(pos).astype(int)
    right = np.minimum(left + 1, n_in - 1)
    w = np.zeros((n_out, n_in))
    np.add.at(w, (np.arange(n_out), left), 1 - (pos - left))
    np.add.at(w, (np.arange(n_out), right), pos - left)
    return w


def _backgrounds(n: int, size: int, dark: np.ndarray, rng) -> np.ndarray:
    """(n, size, size, 3) float32 smooth random colour fields; dark ones in [0, .45], light in [.55, 1]."""
    base = np.where(dark[:, None], rng.uniform(0.05, 0.35, (n, 3)), rng.uniform(0.65, 0.95, (n, 3)))
    coarse = base[:, None, None, :] + rng.uniform(-0.1, 0.1, (n, _BG_GRID, _BG_GRID, 3))
    w = _interp_matrix(size, _BG_GRID).astype(np.float32)
    field = w @ coarse.astype(np.float32).transpose(0, 3, 1, 2) @ w.T  # (n, 3, size, size)
    field = np.ascontiguousarray(field.transpose(0, 2, 3, 1))
    field += 0.015 * rng.standard_normal(field.shape, dtype=np.float32)
    return field


def _digit_colours(dark: np.ndarray, rng) -> np.ndarray:
    """A random colour per image, light on dark backgrounds and dark on light ones."""
    n = len(dark)
    return np.where(dark[:, None], rng.uniform(0.7, 1.0, (n, 3)), rng.uniform(0.0, 0.3, (n, 3)))


@functools.lru_cache(maxsize=None)
def _cubic_matrix(n_out: int, n_in: int = 8) -> np.ndarray:
    """(n_out, n_in) bicubic (Keys, a=-0.5) upsampling weights, pixel centres aligned, edges clamped."""
    pos = (np.arange(n_out) + 0.5) * n_in / n_out - 0.5
    base = np.floor(pos).astype(int)
    w = np.zeros((n_out, n_in))
    for k in range(-1, 3):
        t = np.abs(pos - (base + k))
        kernel = np.where(t <= 1, 1.5 * t**3 - 2.5 * t**2 + 1, np.where(t < 2, -0.5 * t**3 + 2.5 * t**2 - 4 * t + 2, 0))
        np.add.at(w, (np.arange(n_out), np.clip(base + k, 0, n_in - 1)), kernel)
    return w.astype(np.float32)


def _upscale(digit8: np.ndarray, size: int) -> np.ndarray:
    """8x8 intensities in [0, 16] -> (size, size) float32 in [0, 1], smooth (separable bicubic)."""
    w = _cubic_matrix(size, digit8.shape[0])
    return np.clip(w @ (digit8.astype(np.float32) / 16.0) @ w.T, 0, 1)


def _texture(d: int, rng) -> np.ndarray:
    """(d, d, 3) patch: solid, checkerboard, stripes or noise in two random colours."""
    c1, c2 = rng.uniform(0, 1, 3), rng.uniform(0, 1, 3)
    yy, xx = np.mgrid[:d, :d]
    cell = int(rng.integers(2, 5))
    pattern = [
        np.zeros((d, d), bool),
        (yy // cell + xx // cell) % 2 == 1,
        (xx // cell) % 2 == 1 if rng.random() < 0.5 else (yy // cell) % 2 == 1,
        rng.random((d, d)) < 0.5,
    ][int(rng.integers(4))]
    return np.where(pattern[..., None], c2, c1)


def _digit_position(size: int, s: int, d: int, rng) -> tuple:
    """A random top-left corner for the s x s digit leaving a d-wide free band on some side."""
    y, x = (int(v) for v in rng.integers(0, size - s + 1, 2))
    if max(y, x, size - s - y, size - s - x) < d:  # no room for the distractor: push to a random side
        side = int(rng.integers(4))
        y = max(y, d) if side == 0 else min(y, size - s - d) if side == 1 else y
        x = max(x, d) if side == 2 else min(x, size - s - d) if side == 3 else x
    return y, x


def _distractor_position(size: int, d: int, box: tuple, rng) -> tuple:
    """A random top-left corner for a d x d square not overlapping ``box`` (y, x, side)."""
    by, bx, bs = box
    for _ in range(64):
        y, x = rng.integers(0, size - d + 1, 2)
        if y + d <= by or y >= by + bs or x + d <= bx or x >= bx + bs:
            return int(y), int(x)
    free = [(y, x) for y in range(size - d + 1) for x in range(size - d + 1)
            if y + d <= by or y >= by + bs or x + d <= bx or x >= bx + bs]
    return free[int(rng.integers(len(free)))]


def render(sources: np.ndarray, digits8: np.ndarray, p: dict, rng) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images (n, S, S, 3) uint8, masks (n, S, S) uint8 and boxes (n, 2, 3) int64 -- the
    digit's and the distractor's (top, left, side) -- for the given source digits."""
    n, size, d = len(sources), int(p["image_size"]), int(p["distractor_size"])
    lo, hi = (int(v) for v in p["digit_size"])
    dark = rng.random(n) < 0.5
    images = _backgrounds(n, size, dark, rng)
    colours = _digit_colours(dark, rng).astype(np.float32)
    masks = np.zeros((n, size, size), np.uint8)
    boxes = np.zeros((n, 2, 3), np.int64)
    sizes = rng.integers(lo, hi + 1, n)
    for i in range(n):
        s = int(sizes[i])
        y, x = _digit_position(size, s, d, rng)
        alpha = _upscale(digits8[sources[i]], s)
        region = images[i, y : y + s, x : x + s]
        region += np.clip(alpha * 1.5, 0, 1)[..., None] * (colours[i] - region)
        masks[i, y : y + s, x : x + s] = alpha > MASK_THRESHOLD
        dy, dx = _distractor_position(size, d, (y, x, s), rng)
        images[i, dy : dy + d, dx : dx + d] = _texture(d, rng)
        boxes[i] = [(y, x, s), (dy, dx, d)]
    return np.round(np.clip(images, 0, 1) * 255).astype(np.uint8), masks, boxes


def generate(params: dict, seed: int, chunk: int = 500) -> dict:
    """All splits in memory, plus per image its ``source_index`` into ``load_digits()`` and
    its ``digit_box`` / ``distractor_box`` (top, left, side)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    digits8, targets = digits.images, digits.target.astype(np.int64)
    pools = split_sources(targets, params["source_fractions"], seed)
    out = {}
    for split, pool in pools.items():
        rng = np.random.default_rng([seed, _SPLIT_STREAM[split]])
        sources = _draw_sources(pool, int(params[f"n_{split}"]), rng)
        parts = [render(sources[i : i + chunk], digits8, params, rng) for i in range(0, len(sources), chunk)]
        boxes = np.concatenate([b for _, _, b in parts])
        out[split] = {
            "images": np.concatenate([im for im, _, _ in parts]),
            "labels": targets[sources],
            "masks": np.concatenate([m for _, m, _ in parts]),
            "source_index": sources.astype(np.int64),
            "digit_box": boxes[:, 0],
            "distractor_box": boxes[:, 1],
        }
    return out


def build(name: str, params: dict, seed: int, workdir=None):
    check(name, params)
    data = generate(params, seed)
    splits = {split: {k: arrays[k] for k in ("images", "labels", "masks")} for split, arrays in data.items()}
    import sklearn

    source = f"scikit-learn {sklearn.__version__} load_digits() (1,797 real 8x8 digits), composited by posthoc"
    return splits, CLASS_NAMES, source
