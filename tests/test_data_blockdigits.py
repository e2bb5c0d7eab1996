"""blockdigits: real digits composited on smooth backgrounds, with masks and a distractor."""

from __future__ import annotations

import time

import numpy as np
import pytest

from posthoc.data import blockdigits as bd
from posthoc.data import load_split, prepare

SMALL = {**bd.DEFAULTS, "n_train": 120, "n_val": 40, "n_test": 40}


@pytest.fixture(scope="module")
def small():
    return bd.generate(SMALL, seed=5)


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    return load_digits()


def test_shapes_dtypes_labels(small, digits):
    for split, n in (("train", 120), ("val", 40), ("test", 40)):
        d = small[split]
        assert d["images"].shape == (n, 64, 64, 3) and d["images"].dtype == np.uint8
        assert d["masks"].shape == (n, 64, 64) and d["masks"].dtype == np.uint8
        assert set(np.unique(d["masks"])) <= {0, 1}
        assert d["labels"].dtype == np.int64
        np.testing.assert_array_equal(d["labels"], digits.target[d["source_index"]])


def test_no_source_digit_in_two_splits(small):
    sources = {split: set(small[split]["source_index"].tolist()) for split in small}
    assert not sources["train"] & sources["val"]
    assert not sources["train"] & sources["test"]
    assert not sources["val"] & sources["test"]


def test_source_split_is_stratified_and_disjoint(digits):
    pools = bd.split_sources(digits.target, {"val": 0.15, "test": 0.25}, seed=0)
    all_idx = np.concatenate(list(pools.values()))
    np.testing.assert_array_equal(np.sort(all_idx), np.arange(1797))
    assert len(pools["val"]) == round(0.15 * 1797) and len(pools["test"]) == round(0.25 * 1797)
    for split, frac in (("val", 0.15), ("test", 0.25)):
        counts = np.bincount(digits.target[pools[split]], minlength=10)
        assert np.all(np.abs(counts - np.bincount(digits.target) * frac) < 1.5)


def test_mask_is_the_digit(small, digits):
    """Mask area tracks the digit's scaled ink, and masked pixels contrast with the background."""
    d = small["train"]
    luminance = d["images"].astype(np.float64).mean(axis=-1) / 255
    for i in range(len(d["labels"])):
        mask = d["masks"][i].astype(bool)
        ink = (digits.images[d["source_index"][i]] / 16 > bd.MASK_THRESHOLD).sum() / 64
        assert mask.any()
        ys, xs = np.nonzero(mask)
        side = max(ys.max() - ys.min(), xs.max() - xs.min()) + 1
        assert side <= SMALL["digit_size"][1]
        # ink fraction of the 8x8 source ~ mask fraction of the digit's box (loose: interpolation)
        assert 0.3 < mask.sum() / (side * side) / max(ink, 1e-3) < 3
        inside, outside = np.median(luminance[i][mask]), np.median(luminance[i][~mask])
        assert abs(inside - outside) > 0.25


def test_distractor_never_overlaps_digit_box():
    rng = np.random.default_rng(0)
    size, d = 64, 14
    for _ in range(3000):
        s = int(rng.integers(24, 41))
        y, x = bd._digit_position(size, s, d, rng)
        assert 0 <= y <= size - s and 0 <= x <= size - s
        dy, dx = bd._distractor_position(size, d, (y, x, s), rng)
        assert 0 <= dy <= size - d and 0 <= dx <= size - d
        assert dy + d <= y or dy >= y + s or dx + d <= x or dx >= x + s


def test_distractor_outside_mask_and_independent_of_digit(small):
    """The distractor square never touches the digit's box or mask, and its place varies."""
    for split in small.values():
        for mask, (y, x, s), (dy, dx, d) in zip(split["masks"], split["digit_box"], split["distractor_box"]):
            assert d == SMALL["distractor_size"]
            assert not mask[dy : dy + d, dx : dx + d].any()
            assert mask[y : y + s, x : x + s].sum() == mask.sum()  # the mask lies inside the digit box
    positions = small["train"]["distractor_box"][:, :2]
    assert len({tuple(p) for p in positions}) > 100  # 120 images, nearly all different places
    # the distractor's place carries no class information: its mean row is similar across classes
    labels = small["train"]["labels"]
    rows = [positions[labels == c, 0].mean() for c in range(10) if (labels == c).sum() >= 5]
    assert np.ptp(rows) < 30


def test_upscale_is_smooth_and_exact_at_constant():
    up = bd._upscale(np.full((8, 8), 16.0), 33)
    np.testing.assert_allclose(up, 1.0, atol=1e-5)
    ramp = np.tile(np.linspace(0, 16, 8), (8, 1))
    row = bd._upscale(ramp, 40)[20]
    assert np.all(np.diff(row) >= -1e-6) and row[0] < 0.05 and row[-1] > 0.95


def test_seed_determinism(tmp_path):
    spec = {"kind": "blockdigits", "n_train": 30, "n_val": 10, "n_test": 10}
    a = prepare("bd", spec, tmp_path / "a", seed=1)
    b = prepare("bd", spec, tmp_path / "b", seed=1)
    c = prepare("bd", spec, tmp_path / "c", seed=2)
    assert a["checksum"] == b["checksum"] != c["checksum"]
    assert a["has_masks"] and a["shape"] == [64, 64, 3] and a["class_names"] == [str(i) for i in range(10)]
    assert load_split(tmp_path / "a", "val").masks.shape == (10, 64, 64)


def test_default_spec_is_fast(tmp_path):
    start = time.perf_counter()
    data = bd.generate(bd.DEFAULTS, seed=0)
    elapsed = time.perf_counter() - start
    assert [len(data[s]["labels"]) for s in ("train", "val", "test")] == [3000, 500, 1000]
    counts = np.bincount(data["train"]["labels"], minlength=10)
    assert counts.min() > 250 and counts.max() < 350  # roughly balanced classes
    assert elapsed < 15, f"default blockdigits took {elapsed:.1f}s"


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"digit_size": [24, 56]}, r"datasets\.bd\.data: digit_size max \(56\) \+ distractor_size"),
        ({"n_val": 0}, r"datasets\.bd\.data\.n_val must be >= 1"),
        ({"source_fractions": {"val": 0.6, "test": 0.5}}, r"datasets\.bd\.data\.source_fractions"),
        ({"digit_size": [30, 20]}, r"datasets\.bd\.data\.digit_size"),
    ],
)
def test_bad_spec(tmp_path, spec, message):
    with pytest.raises(ValueError, match=message):
        prepare("bd", {"kind": "blockdigits", **spec}, tmp_path, seed=0)
