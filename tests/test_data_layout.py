"""The on-disk dataset layout: writing, validation, checksum, memory-mapped loading."""

from __future__ import annotations

import json

import numpy as np
import pytest

from posthoc.data import KINDS, layout, prepare, resolve_spec
from posthoc.data.layout import (
    compute_checksum,
    load_split,
    read_meta,
    stratified_partition,
    stratified_subset,
    verify_checksum,
    write_dataset,
)

META_KEYS = {
    "name",
    "kind",
    "task",
    "ndim",
    "channels",
    "shape",
    "class_names",
    "n_samples",
    "has_masks",
    "source",
    "checksum",
    "params",
}


def _images(n, rng, size=8, c=3):
    return rng.integers(0, 256, (n, size, size, c), dtype=np.uint8)


def _splits(rng, masks=False, sizes=(12, 5, 6)):
    out = {}
    for split, n in zip(("train", "val", "test"), sizes):
        out[split] = {"images": _images(n, rng), "labels": rng.integers(0, 3, n).astype(np.int64)}
        if masks:
            out[split]["masks"] = rng.integers(0, 2, (n, 8, 8)).astype(np.uint8)
    return out


def _write(tmp_path, splits, **kw):
    args = dict(name="toy", kind="blockdigits", class_names=["a", "b", "c"], source="unit test", params={"x": 1})
    args.update(kw)
    return write_dataset(tmp_path, splits=splits, **args)


def test_roundtrip_meta_and_memmap(tmp_path):
    rng = np.random.default_rng(0)
    splits = _splits(rng, masks=True)
    meta = _write(tmp_path, splits)
    assert set(meta) == META_KEYS
    assert meta == read_meta(tmp_path) == json.loads((tmp_path / "meta.json").read_text())
    assert meta["shape"] == [8, 8, 3] and meta["ndim"] == 2 and meta["channels"] == 3
    assert meta["n_samples"] == {"train": 12, "val": 5, "test": 6}
    assert meta["has_masks"] is True and meta["task"] == "multi-class"
    for split, arrays in splits.items():
        loaded = load_split(tmp_path, split)
        assert isinstance(loaded.images, np.memmap) and not loaded.images.flags.writeable
        np.testing.assert_array_equal(loaded.images, arrays["images"])
        np.testing.assert_array_equal(loaded.labels, arrays["labels"])
        np.testing.assert_array_equal(loaded.masks, arrays["masks"])
        assert loaded.labels.dtype == np.int64
        assert not isinstance(load_split(tmp_path, split, mmap=False).images, np.memmap)
    assert not list(tmp_path.glob("*partial*"))


def test_signals_and_no_masks(tmp_path):
    rng = np.random.default_rng(1)
    splits = {
        s: {"images": rng.normal(size=(n, 40)).astype(np.float32), "labels": np.arange(n) % 3}
        for s, n in (("train", 9), ("val", 3), ("test", 3))
    }
    meta = _write(tmp_path, splits, kind="mnist1d")
    assert (meta["ndim"], meta["channels"], meta["shape"], meta["has_masks"]) == (1, 1, [40], False)
    assert load_split(tmp_path, "val").masks is None


def test_rewrite_without_masks_removes_stale_masks(tmp_path):
    rng = np.random.default_rng(2)
    _write(tmp_path, _splits(rng, masks=True))
    _write(tmp_path, _splits(rng, masks=False))
    assert not list(tmp_path.glob("*_masks.npy"))
    assert load_split(tmp_path, "train").masks is None


def test_checksum_deterministic_and_sensitive(tmp_path):
    rng = np.random.default_rng(3)
    splits = _splits(rng, masks=True)
    a = compute_checksum(splits)
    assert a == compute_checksum({s: {k: v.copy() for k, v in d.items()} for s, d in splits.items()})
    splits["test"]["images"][0, 0, 0, 0] ^= 1
    assert compute_checksum(splits) != a
    # dtype/shape are part of the hash, not just the bytes
    reshaped = {s: dict(d) for s, d in splits.items()}
    reshaped["train"]["images"] = splits["train"]["images"].reshape(12, 8, 4, 6)
    assert compute_checksum(reshaped) != compute_checksum(splits)


def test_verify_checksum_detects_tampering(tmp_path):
    _write(tmp_path, _splits(np.random.default_rng(4)))
    assert verify_checksum(tmp_path)
    labels = np.load(tmp_path / "val_labels.npy")
    labels[0] = (labels[0] + 1) % 3
    np.save(tmp_path / "val_labels.npy", labels)
    assert not verify_checksum(tmp_path)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda s: s["train"].update(images=s["train"]["images"].astype(np.float64)), "uint8 .* or float32"),
        (
            lambda s: s["train"].update(images=s["train"]["images"].astype(np.float32)),
            r"float32 signals must be \(N,L\)",
        ),
        (lambda s: s["train"].update(images=s["train"]["images"][..., 0]), r"\(N,H,W,C\)"),
        (lambda s: s["val"].update(labels=s["val"]["labels"].astype(np.int32)), "int64"),
        (lambda s: s["val"].update(labels=s["val"]["labels"][:-1]), "5 images but 4 labels"),
        (lambda s: s["test"]["labels"].__setitem__(0, 3), "3 class names"),
        (lambda s: s["test"].update(images=s["test"]["images"][:, :4]), "per-sample shape"),
        (lambda s: s["test"].update(masks=np.zeros((6, 8, 8), np.uint8)), "every split or for none"),
        (lambda s: s["train"].update(masks=np.zeros((12, 8, 7), np.uint8)), "masks must be"),
        (lambda s: s.pop("val"), "splits must be exactly"),
        (lambda s: s["train"].update(extra=np.zeros(3)), "unknown arrays"),
    ],
)
def test_validation_errors_write_nothing(tmp_path, mutate, message):
    splits = _splits(np.random.default_rng(5))
    mutate(splits)
    with pytest.raises(ValueError, match=message):
        _write(tmp_path, splits)
    assert not any(tmp_path.iterdir())


def test_meta_is_written_last_and_removed_first(tmp_path, monkeypatch):
    _write(tmp_path, _splits(np.random.default_rng(6)))
    calls = []

    def failing_save(path, array):
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        np.save(path, array)

    monkeypatch.setattr(layout, "save_npy", failing_save)
    with pytest.raises(OSError, match="disk full"):
        _write(tmp_path, _splits(np.random.default_rng(7)))
    assert not (tmp_path / "meta.json").exists()  # an interrupted rewrite leaves no valid-looking folder
    with pytest.raises(FileNotFoundError, match="meta.json.*re-run the data preparation"):
        load_split(tmp_path, "train")


def test_missing_files_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"meta\.json not found.*not prepared"):
        read_meta(tmp_path)
    _write(tmp_path, _splits(np.random.default_rng(8)))
    (tmp_path / "val_labels.npy").unlink()
    with pytest.raises(FileNotFoundError, match=r"val_labels\.npy not found"):
        load_split(tmp_path, "val")
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        load_split(tmp_path, "dev")


def test_stratified_subset_proportions_and_determinism():
    rng = np.random.default_rng(9)
    labels = rng.choice(4, size=1000, p=[0.5, 0.3, 0.15, 0.05])
    idx = stratified_subset(labels, 100, np.random.default_rng(1))
    assert len(idx) == 100 == len(np.unique(idx)) and np.all(np.diff(idx) > 0)
    expected = np.bincount(labels, minlength=4) * 100 / 1000
    assert np.all(np.abs(np.bincount(labels[idx], minlength=4) - expected) < 1)
    np.testing.assert_array_equal(idx, stratified_subset(labels, 100, np.random.default_rng(1)))
    assert not np.array_equal(idx, stratified_subset(labels, 100, np.random.default_rng(2)))
    with pytest.raises(ValueError, match="cannot draw 1001"):
        stratified_subset(labels, 1001, rng)


def test_stratified_partition_disjoint_cover():
    labels = np.repeat(np.arange(5), [40, 30, 20, 6, 4])
    parts = stratified_partition(labels, {"val": 15, "test": 25, "train": None}, np.random.default_rng(0))
    assert list(parts) == ["val", "test", "train"]
    assert [len(parts[p]) for p in parts] == [15, 25, 60]
    np.testing.assert_array_equal(np.sort(np.concatenate(list(parts.values()))), np.arange(100))
    for part, n in (("val", 15), ("test", 25)):
        expected = np.bincount(labels, minlength=5) * n / 100
        assert np.all(np.abs(np.bincount(labels[parts[part]], minlength=5) - expected) < 1)


def test_prepare_rejects_unknown_kind_and_keys(tmp_path):
    with pytest.raises(
        ValueError, match=r"datasets\.foo\.data\.kind = 'cifar'.*mnist1d, blockdigits, ihc, medmnist, imagefolder"
    ):
        prepare("foo", {"kind": "cifar"}, tmp_path, 0)
    with pytest.raises(ValueError, match=r"datasets\.foo\.data\.kind = None"):
        prepare("foo", {}, tmp_path, 0)
    with pytest.raises(ValueError, match=r"datasets\.foo\.data\.n_vall"):
        prepare("foo", {"kind": "mnist1d", "n_vall": 3}, tmp_path, 0)
    assert KINDS == ("mnist1d", "blockdigits", "ihc", "medmnist", "imagefolder")
    assert resolve_spec("x", {"kind": "blockdigits", "n_train": 7})["n_train"] == 7
    assert resolve_spec("x", {"kind": "blockdigits"})["image_size"] == 64
