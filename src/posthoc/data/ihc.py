"""ihc: patches of real colon tissue (immunohistochemistry, haematoxylin + DAB) with labels from stain separation.

Built offline from scikit-image's bundled slide ``skimage.data.immunohistochemistry()`` (512 x 512 RGB).
Colour deconvolution (``skimage.color.rgb2hed``) gives every pixel a haematoxylin and a DAB density; a pixel
is *DAB-positive* when its DAB density exceeds ``DAB_THRESHOLD`` and *haematoxylin-rich* when it is not
DAB-positive and its haematoxylin density exceeds ``HAEMATOXYLIN_THRESHOLD``; every other pixel is
*stroma/lumen*. A square patch is labelled by the fractions of those pixels in it, with margins so that no
patch is borderline (patches between the margins are not used):

* ``dab_positive``: at least ``DAB_MIN`` of the patch is DAB-positive (stained epithelium);
* ``haematoxylin_rich``: under ``OTHER_DAB_MAX`` DAB-positive and at least ``HAEM_MIN`` haematoxylin-rich
  (nuclei in stroma);
* ``stroma_lumen``: under ``OTHER_DAB_MAX`` DAB-positive and under ``HAEM_MAX`` haematoxylin-rich.

The ground-truth mask of a patch is the set of pixels of its label's kind, i.e. the pixels that define the
label. The slide is cut into a 4 x 4 grid of 128-px blocks and each block belongs to one split (``BLOCKS``);
a patch lies entirely inside one block, so no pixel appears in two splits. Each split takes the same number
of patches per class, drawn (seeded) from every patch position on a ``stride`` grid times the eight
flips/rotations of the square, without replacement while the pool allows. A demonstration with a known
answer, not a diagnostic task: one slide, thresholds instead of a pathologist, neighbouring patches overlap.
"""
from __future__ import annotations

import functools

import numpy as np

from posthoc.errors import DataError

DEFAULTS = {"kind": "ihc", "patch_size": 48, "stride": 4, "n_train": 3000, "n_val": 300, "n_test": 600}
CLASS_NAMES = ["dab_positive", "haematoxylin_rich", "stroma_lumen"]
DAB_THRESHOLD = 0.05           # DAB optical density (rgb2hed channel 2) of a DAB-positive pixel
HAEMATOXYLIN_THRESHOLD = 0.03  # haematoxylin density (channel 0) of a haematoxylin-rich pixel
DAB_MIN, OTHER_DAB_MAX = 0.5, 0.15
HAEM_MIN, HAEM_MAX = 0.12, 0.08
BLOCK = 128
# Split of each 128-px block of the slide (rows top to bottom): every split holds all three classes.
BLOCKS = np.array([
    ["test", "val", "train", "train"],
    ["train", "train", "train", "train"],
    ["train", "test", "train", "val"],
    ["train", "train", "train", "train"],
])
_SPLIT_STREAM = {"train": 1, "val": 2, "test": 3}


def input_size(params: dict) -> int:
    """Image side in pixels."""
    return int(params["patch_size"])


def check(name: str, p: dict) -> None:
    key = f"datasets.{name}.data"
    if not 32 <= int(p["patch_size"]) <= BLOCK:
        raise DataError(f"{key}.patch_size must be in [32, {BLOCK}] (a patch lies inside one {BLOCK}-px block "
                        f"of the slide), got {p['patch_size']}")
    if not 1 <= int(p["stride"]) <= int(p["patch_size"]):
        raise DataError(f"{key}.stride must be in [1, patch_size], got {p['stride']}")
    for split in ("train", "val", "test"):
        if int(p[f"n_{split}"]) < len(CLASS_NAMES):
            raise DataError(f"{key}.n_{split} must be >= {len(CLASS_NAMES)} (one per class), got {p[f'n_{split}']}")


@functools.lru_cache(maxsize=1)
def slide() -> tuple[np.ndarray, np.ndarray]:
    """The RGB slide (512, 512, 3) uint8 and its per-pixel kind (512, 512) int8: the class index whose
    pixels it counts for (0 DAB-positive, 1 haematoxylin-rich, 2 stroma/lumen)."""
    from skimage import color, data

    rgb = data.immunohistochemistry()
    hed = color.rgb2hed(rgb)
    dab = hed[..., 2] > DAB_THRESHOLD
    haem = (hed[..., 0] > HAEMATOXYLIN_THRESHOLD) & ~dab
    kind = np.where(dab, 0, np.where(haem, 1, 2)).astype(np.int8)
    return rgb, kind


def patch_labels(kind: np.ndarray, size: int, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-left corners (M, 2) of the ``size`` patches on a ``stride`` grid of ``kind`` and their labels
    (M,) (-1: between the margins, not used), from the fractions of DAB-positive and haematoxylin-rich pixels."""
    from numpy.lib.stride_tricks import sliding_window_view

    def fraction(pixels):
        return sliding_window_view(pixels, (size, size))[::stride, ::stride].mean(axis=(-1, -2))

    fd, fh = fraction((kind == 0).astype(np.float32)), fraction((kind == 1).astype(np.float32))
    label = np.full(fd.shape, -1, np.int64)
    label[fd >= DAB_MIN] = 0
    low_dab = fd < OTHER_DAB_MAX
    label[low_dab & (fh >= HAEM_MIN)] = 1
    label[low_dab & (fh < HAEM_MAX)] = 2
    ys, xs = np.meshgrid(np.arange(fd.shape[0]) * stride, np.arange(fd.shape[1]) * stride, indexing="ij")
    return np.stack([ys.ravel(), xs.ravel()], 1), label.ravel()


def split_pools(size: int, stride: int) -> dict:
    """Per split: (corners (M, 2) in slide coordinates, labels (M,)) of the labelled patches inside its blocks."""
    _, kind = slide()
    pools = {s: ([], []) for s in _SPLIT_STREAM}
    for by, bx in np.ndindex(BLOCKS.shape):
        block = kind[by * BLOCK : (by + 1) * BLOCK, bx * BLOCK : (bx + 1) * BLOCK]
        corners, labels = patch_labels(block, size, stride)
        keep = labels >= 0
        pools[BLOCKS[by, bx]][0].append(corners[keep] + [by * BLOCK, bx * BLOCK])
        pools[BLOCKS[by, bx]][1].append(labels[keep])
    return {s: (np.concatenate(c), np.concatenate(lab)) for s, (c, lab) in pools.items()}


def _dihedral(a: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The eight flips/rotations of square patches a (N, S, S, ...): t in 0..7 = k quarter turns, + a flip if >= 4."""
    out = np.empty_like(a)
    for k in range(8):  # eight fixed transforms, each applied to all its patches at once
        sel = t == k
        if sel.any():
            b = np.rot90(a[sel], k % 4, axes=(1, 2))
            out[sel] = b[:, :, ::-1] if k >= 4 else b
    return out


def sample_split(split: str, n: int, size: int, stride: int, seed: int) -> dict:
    """``n`` patches of one split, classes as equal as ``n`` allows: images (n, S, S, 3) uint8, labels (n,),
    masks (n, S, S) uint8 (pixels of the label's kind), and per patch its ``corner`` (y, x) on the slide
    and ``transform`` (0..7)."""
    rgb, kind = slide()
    corners, labels = split_pools(size, stride)[split]
    rng = np.random.default_rng([seed, _SPLIT_STREAM[split]])
    per_class = np.full(len(CLASS_NAMES), n // len(CLASS_NAMES))
    per_class[: n % len(CLASS_NAMES)] += 1
    picks, transforms = [], []
    for c, k in enumerate(per_class):  # three classes: a draw per class from its pool of (position, transform)
        pool = np.flatnonzero(labels == c)
        if len(pool) == 0:
            raise DataError(f"ihc: split {split} has no {CLASS_NAMES[c]} patch at patch_size {size}; "
                            "use a smaller datasets.<name>.data.patch_size")
        options = len(pool) * 8
        flat = rng.choice(options, size=k, replace=k > options)
        picks.append(pool[flat // 8])
        transforms.append(flat % 8)
    order = rng.permutation(n)
    idx, t = np.concatenate(picks)[order], np.concatenate(transforms)[order]
    yy = corners[idx, 0, None] + np.arange(size)  # (n, S)
    xx = corners[idx, 1, None] + np.arange(size)
    images = rgb[yy[:, :, None], xx[:, None, :]]  # (n, S, S, 3)
    masks = (kind[yy[:, :, None], xx[:, None, :]] == labels[idx][:, None, None]).astype(np.uint8)
    return {"images": _dihedral(images, t), "labels": labels[idx], "masks": _dihedral(masks, t),
            "corner": corners[idx], "transform": t}


def generate(params: dict, seed: int) -> dict:
    size, stride = int(params["patch_size"]), int(params["stride"])
    return {split: sample_split(split, int(params[f"n_{split}"]), size, stride, seed) for split in _SPLIT_STREAM}


def build(name: str, params: dict, seed: int, workdir=None):
    check(name, params)
    data = generate(params, seed)
    splits = {split: {k: arrays[k] for k in ("images", "labels", "masks")} for split, arrays in data.items()}
    import skimage

    source = (f"scikit-image {skimage.__version__} data.immunohistochemistry() (colon, haematoxylin + DAB), "
              "patches labelled by rgb2hed stain separation, by posthoc")
    return splits, CLASS_NAMES, source
