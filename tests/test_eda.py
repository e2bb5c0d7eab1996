"""EDA computations: counts, first sample per class, chunked mean/std, stats.json content."""

from __future__ import annotations

import numpy as np
import pytest

from posthoc import eda
from posthoc.data.layout import write_dataset


def test_class_counts_matches_unique():
    labels = np.random.default_rng(0).integers(0, 7, 500)
    values, counts = np.unique(labels, return_counts=True)
    expected = np.zeros(9, np.int64)
    expected[values] = counts
    out = eda.class_counts(labels, 9)
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out, expected)
    with pytest.raises(ValueError, match=r"outside \[0, 2\]"):
        eda.class_counts([0, 3], 3)


def test_first_per_class():
    labels = np.array([3, 1, 3, 0, 1, 0, 5])
    out = eda.first_per_class(labels, 7)
    expected = [next((i for i, y in enumerate(labels) if y == c), -1) for c in range(7)]
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.int64 and out[2] == -1 and out[6] == -1


def _reference(images):
    x = images.astype(np.float64) / 255
    return x.mean(axis=(0, 1, 2)), x.std(axis=(0, 1, 2))


@pytest.mark.parametrize("channels", [1, 3])
def test_uint8_mean_std_vs_direct(channels):
    rng = np.random.default_rng(channels)
    images = rng.integers(0, 256, (53, 9, 11, channels), dtype=np.uint8)
    images[..., 0] //= 3  # channels with different statistics
    mean, std = eda.channel_mean_std(images, chunk=7)
    ref_mean, ref_std = _reference(images)
    assert len(mean) == len(std) == channels
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12)
    np.testing.assert_allclose(std, ref_std, rtol=1e-12)


class _Recorder:
    """Array stand-in that records how many samples each read asks for."""

    def __init__(self, array):
        self.array, self.reads = array, []
        self.shape, self.dtype, self.ndim = array.shape, array.dtype, array.ndim

    def __len__(self):
        return len(self.array)

    def __getitem__(self, sl):
        self.reads.append(sl.stop - sl.start)
        return self.array[sl]


def test_reads_in_bounded_chunks(monkeypatch, tmp_path):
    path = tmp_path / "big.npy"
    images = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(300, 16, 16, 3))
    images[:] = np.random.default_rng(0).integers(0, 256, images.shape, dtype=np.uint8)
    images.flush()
    mapped = np.load(path, mmap_mode="r")
    rec = _Recorder(mapped)
    mean, std = eda.channel_mean_std(rec, chunk=64)
    assert max(rec.reads) <= 64 and sum(rec.reads) == 300
    # chunks are also bounded by value count, whatever chunk says
    monkeypatch.setattr(eda, "_MAX_VALUES_PER_CHUNK", 768 * 10)
    rec2 = _Recorder(mapped)
    assert eda.channel_mean_std(rec2, chunk=4096) == (mean, std)
    assert max(rec2.reads) == 10
    ref_mean, ref_std = _reference(np.asarray(mapped))
    np.testing.assert_allclose(mean, ref_mean, rtol=1e-12)
    np.testing.assert_allclose(std, ref_std, rtol=1e-12)


def test_signal_mean_std_unscaled_and_chunk_invariant():
    signals = (np.random.default_rng(1).normal(3.0, 2.0, (1001, 40))).astype(np.float32)
    mean, std = eda.channel_mean_std(signals, chunk=33)
    ref = signals.astype(np.float64)
    assert len(mean) == len(std) == 1
    np.testing.assert_allclose(mean[0], ref.mean(), rtol=1e-12)
    np.testing.assert_allclose(std[0], ref.std(), rtol=1e-12)
    whole = eda.channel_mean_std(signals, chunk=10_000)
    np.testing.assert_allclose(whole, (mean, std), rtol=1e-12)


def test_unsupported_input():
    with pytest.raises(TypeError, match="uint8 \\(N,H,W,C\\) images or float"):
        eda.channel_mean_std(np.zeros((2, 4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="empty"):
        eda.channel_mean_std(np.zeros((0, 4, 4, 3), np.uint8))


def test_dataset_stats(tmp_path):
    rng = np.random.default_rng(2)
    splits = {
        s: {"images": rng.integers(0, 256, (n, 6, 6, 3), dtype=np.uint8), "labels": np.arange(n, dtype=np.int64) % 4}
        for s, n in (("train", 20), ("val", 6), ("test", 9))
    }
    write_dataset(tmp_path, "toy", "imagefolder", splits, list("abcd"), "test", {})
    stats = eda.dataset_stats(tmp_path)
    ref_mean, ref_std = _reference(splits["train"]["images"])
    np.testing.assert_allclose(stats["mean"], ref_mean, rtol=1e-12)
    np.testing.assert_allclose(stats["std"], ref_std, rtol=1e-12)
    assert stats["class_counts"] == {"train": [5, 5, 5, 5], "val": [2, 2, 1, 1], "test": [3, 2, 2, 2]}
    assert stats["n_samples"] == {"train": 20, "val": 6, "test": 9}
    assert stats["shape"] == [6, 6, 3] and stats["pixel_scale"] == 255.0
    import json

    json.dumps(stats)  # plain JSON types only


def test_dataset_stats_signals(tmp_path):
    rng = np.random.default_rng(3)
    splits = {
        s: {"images": rng.normal(size=(n, 40)).astype(np.float32), "labels": np.arange(n, dtype=np.int64) % 2}
        for s, n in (("train", 10), ("val", 4), ("test", 4))
    }
    write_dataset(tmp_path, "sig", "mnist1d", splits, ["0", "1"], "test", {})
    stats = eda.dataset_stats(tmp_path)
    assert stats["pixel_scale"] == 1.0 and stats["shape"] == [40]
    np.testing.assert_allclose(stats["mean"], [splits["train"]["images"].astype(np.float64).mean()], rtol=1e-10)
