"""MedMNIST: MD5-verified npz files in MedMNIST's exact key layout, built locally (no network)."""

from __future__ import annotations

import hashlib
import io
import urllib.error

import numpy as np
import pytest

medmnist = pytest.importorskip("medmnist")

from posthoc.data import load_split, prepare  # noqa: E402
from posthoc.data import medmnist as mm  # noqa: E402


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to use the network")

    monkeypatch.setattr(mm, "urlopen", refuse)


def _npz_bytes(size, channels, counts, n_classes, seed=0):
    """An npz like MedMNIST's: {split}_images uint8 (N,H,W[,3]), {split}_labels uint8 (N,1).
    Pixel [0,0] of each image encodes its split and row, to identify rows after subsetting."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for s, (split, n) in enumerate(zip(("train", "val", "test"), counts)):
        shape = (n, size, size) if channels == 1 else (n, size, size, channels)
        images = rng.integers(0, 256, shape, dtype=np.uint8)
        images.reshape(n, -1)[:, 0] = s
        images.reshape(n, -1)[:, 1] = np.arange(n) % 256
        arrays[f"{split}_images"] = images
        arrays[f"{split}_labels"] = (np.arange(n) % n_classes).astype(np.uint8)[:, None]
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue(), arrays


def _chest_npz_bytes(size, counts, n_labels=14, seed=0):
    """An npz in ChestMNIST's layout: {split}_images uint8 (N,H,W), {split}_labels uint8 0/1 (N,14)."""
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in zip(("train", "val", "test"), counts):
        arrays[f"{split}_images"] = rng.integers(0, 256, (n, size, size), dtype=np.uint8)
        arrays[f"{split}_labels"] = (rng.random((n, n_labels)) < 0.2).astype(np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue(), arrays


def _install(monkeypatch, root, flag, size, data: bytes | None, md5=None):
    """Write the npz into root (unless data is None) and point INFO's MD5/URL for it at it."""
    suffix = "" if size == 28 else f"_{size}"
    filename = f"{flag}{suffix}.npz"
    if data is not None:
        root.mkdir(parents=True, exist_ok=True)
        (root / filename).write_bytes(data)
    md5 = md5 or hashlib.md5(data).hexdigest()
    url = f"https://example.invalid/{filename}"
    monkeypatch.setitem(medmnist.INFO, flag, {**medmnist.INFO[flag], f"MD5{suffix}": md5, f"url{suffix}": url})
    return root / filename, url


def test_rgb_roundtrip(tmp_path, monkeypatch):
    data, arrays = _npz_bytes(28, 3, (30, 10, 12), n_classes=9)
    _install(monkeypatch, tmp_path / "raw", "pathmnist", 28, data)
    spec = {"kind": "medmnist", "flag": "pathmnist", "size": 28, "root": str(tmp_path / "raw")}
    meta = prepare("path", spec, tmp_path / "out", seed=0)
    assert meta["n_samples"] == {"train": 30, "val": 10, "test": 12}
    assert meta["shape"] == [28, 28, 3] and meta["channels"] == 3 and meta["ndim"] == 2
    labels = medmnist.INFO["pathmnist"]["label"]
    assert meta["class_names"] == [labels[str(i)] for i in range(9)]
    assert meta["class_names"][0] == "adipose"
    assert "pathmnist.npz" in meta["source"] and "medmnist" in meta["source"]
    for split in ("train", "val", "test"):
        loaded = load_split(tmp_path / "out", split)
        np.testing.assert_array_equal(loaded.images, arrays[f"{split}_images"])
        np.testing.assert_array_equal(loaded.labels, arrays[f"{split}_labels"][:, 0])
        assert loaded.labels.dtype == np.int64 and loaded.masks is None
    assert sorted(p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")) == []


def test_grayscale_gets_a_channel_axis(tmp_path, monkeypatch):
    data, arrays = _npz_bytes(64, 1, (8, 4, 4), n_classes=4)
    _install(monkeypatch, tmp_path / "raw", "octmnist", 64, data)
    spec = {"kind": "medmnist", "flag": "octmnist", "size": 64, "root": str(tmp_path / "raw")}
    meta = prepare("oct", spec, tmp_path / "out", seed=0)
    assert meta["shape"] == [64, 64, 1] and meta["channels"] == 1
    images = load_split(tmp_path / "out", "train").images
    assert images.shape == (8, 64, 64, 1)
    np.testing.assert_array_equal(images[..., 0], arrays["train_images"])


def test_max_per_split_is_a_seeded_stratified_subset(tmp_path, monkeypatch):
    data, arrays = _npz_bytes(28, 3, (90, 30, 30), n_classes=3)
    _install(monkeypatch, tmp_path / "raw", "bloodmnist", 28, data)
    spec = {"kind": "medmnist", "flag": "bloodmnist", "size": 28, "root": str(tmp_path / "raw"), "max_per_split": 12}
    a = prepare("b", spec, tmp_path / "a", seed=1)
    b = prepare("b", spec, tmp_path / "b", seed=1)
    c = prepare("b", spec, tmp_path / "c", seed=2)
    assert a["n_samples"] == {"train": 12, "val": 12, "test": 12}
    assert a["checksum"] == b["checksum"] != c["checksum"]
    for s, split in enumerate(("train", "val", "test")):
        loaded = load_split(tmp_path / "a", split)
        rows = loaded.images.reshape(12, -1)[:, 1].astype(int)
        assert np.all(loaded.images.reshape(12, -1)[:, 0] == s) and len(set(rows)) == 12
        # each kept image is the source row it claims to be, with that row's label
        np.testing.assert_array_equal(loaded.images, arrays[f"{split}_images"][rows])
        np.testing.assert_array_equal(loaded.labels, arrays[f"{split}_labels"][rows, 0])
        np.testing.assert_array_equal(np.bincount(loaded.labels, minlength=3), [4, 4, 4])


def test_md5_mismatch_names_file_and_remedy(tmp_path, monkeypatch):
    data, _ = _npz_bytes(28, 3, (6, 3, 3), n_classes=9)
    path, _ = _install(monkeypatch, tmp_path / "raw", "pathmnist", 28, data, md5="0" * 32)
    spec = {"kind": "medmnist", "flag": "pathmnist", "size": 28, "root": str(tmp_path / "raw")}
    actual = hashlib.md5(data).hexdigest()
    with pytest.raises(RuntimeError, match=rf"{path}.*MD5 {actual}, expected 0{{32}}.*delete it"):
        prepare("path", spec, tmp_path / "out", seed=0)
    assert path.exists() and not (tmp_path / "out" / "meta.json").exists()


def test_offline_message_says_where_to_put_the_file(tmp_path, monkeypatch):
    _, url = _install(monkeypatch, tmp_path / "raw", "dermamnist", 128, None, md5="a" * 32)

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Temporary failure in name resolution")

    monkeypatch.setattr(mm, "urlopen", offline)
    spec = {"kind": "medmnist", "flag": "dermamnist", "size": 128, "root": str(tmp_path / "raw")}
    target = (tmp_path / "raw" / "dermamnist_128.npz").resolve()
    with pytest.raises(RuntimeError) as err:
        prepare("derma", spec, tmp_path / "out", seed=0)
    message = str(err.value)
    for piece in ("dermamnist_128.npz", url, str(target), "by hand", "a" * 32, "name resolution"):
        assert piece in message
    assert not any((tmp_path / "raw").iterdir())  # no partial file left behind


class _FakeResponse(io.BytesIO):
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def test_download_verifies_md5_then_renames(tmp_path, monkeypatch):
    data, arrays = _npz_bytes(28, 3, (6, 3, 3), n_classes=9)
    path, url = _install(monkeypatch, tmp_path / "raw", "pathmnist", 28, None, md5=hashlib.md5(data).hexdigest())
    requested = []

    def fake_urlopen(u, timeout=None):
        requested.append(u)
        return _FakeResponse(data)

    monkeypatch.setattr(mm, "urlopen", fake_urlopen)
    assert mm.fetch("pathmnist", 28, tmp_path / "raw") == path
    assert requested == [url] and path.read_bytes() == data
    assert sorted(p.name for p in path.parent.iterdir()) == ["pathmnist.npz"]
    # present now: used as is, no second request
    mm.fetch("pathmnist", 28, tmp_path / "raw")
    assert requested == [url]


def test_download_with_wrong_md5_leaves_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(mm, "urlopen", lambda u, timeout=None: _FakeResponse(b"truncated"))
    dest = tmp_path / "raw" / "x.npz"
    with pytest.raises(RuntimeError, match=r"x\.npz .* has MD5 .*expected b{32}"):
        mm.download("https://example.invalid/x.npz", dest, "b" * 32)
    assert not any(dest.parent.iterdir())


@pytest.mark.parametrize(
    "flag, size, message",
    [
        ("organmnist3d", 28, r"'organmnist3d' is a 3-D"),
        ("pathmnist", 100, r"datasets\.n\.data\.size = 100"),
        ("cifar10", 28, r"'cifar10' is not a MedMNIST dataset.*pathmnist"),
    ],
)
def test_rejected_flags_and_sizes(tmp_path, flag, size, message):
    spec = {"kind": "medmnist", "flag": flag, "size": size, "root": str(tmp_path)}
    with pytest.raises(ValueError, match=message):
        prepare("n", spec, tmp_path / "out", seed=0)


def test_file_info_matches_medmnist_naming():
    info = medmnist.INFO["pathmnist"]
    assert mm.file_info("pathmnist", 28)["filename"] == "pathmnist.npz"
    fi = mm.file_info("pathmnist", 128)
    assert (fi["filename"], fi["url"], fi["md5"]) == ("pathmnist_128.npz", info["url_128"], info["MD5_128"])
    assert "pathmnist_128.npz" in fi["url"]


def test_large_members_are_streamed_to_memmaps(tmp_path, monkeypatch):
    import zipfile

    monkeypatch.setattr(mm, "_BLOCK", 1000)  # many blocks per member
    data, arrays = _npz_bytes(28, 3, (20, 2, 2), n_classes=2)
    (tmp_path / "f.npz").write_bytes(data)
    with zipfile.ZipFile(tmp_path / "f.npz") as npz:
        out = mm._extract_member(npz, "train_images", tmp_path / "t.npy", tmp_path / "f.npz")
        assert isinstance(out, np.memmap)
        np.testing.assert_array_equal(out, arrays["train_images"])
        with pytest.raises(KeyError, match="no array 'train_masks'"):
            mm._extract_member(npz, "train_masks", tmp_path / "m.npy", tmp_path / "f.npz")


def test_chestmnist_is_multi_label(tmp_path, monkeypatch):
    data, arrays = _chest_npz_bytes(28, (40, 10, 12))
    _install(monkeypatch, tmp_path / "raw", "chestmnist", 28, data)
    spec = {"kind": "medmnist", "flag": "chestmnist", "size": 28, "root": str(tmp_path / "raw")}
    from posthoc.data import task

    assert task("chest", spec) == "multi-label"
    meta = prepare("chest", spec, tmp_path / "out", seed=0)
    names = medmnist.INFO["chestmnist"]["label"]
    assert meta["task"] == "multi-label" and meta["class_names"] == [names[str(i)] for i in range(14)]
    assert meta["channels"] == 1 and meta["shape"] == [28, 28, 1]
    for split in ("train", "val", "test"):
        s = load_split(tmp_path / "out", split)
        assert s.labels.dtype == np.int64 and s.labels.shape == arrays[f"{split}_labels"].shape
        np.testing.assert_array_equal(s.labels, arrays[f"{split}_labels"])
        np.testing.assert_array_equal(s.images[..., 0], arrays[f"{split}_images"])


def test_chestmnist_subset_keeps_label_combinations(tmp_path, monkeypatch):
    data, arrays = _chest_npz_bytes(28, (60, 10, 12), n_labels=14, seed=1)
    _install(monkeypatch, tmp_path / "raw", "chestmnist", 28, data)
    spec = {"kind": "medmnist", "flag": "chestmnist", "size": 28, "root": str(tmp_path / "raw"), "max_per_split": 8}
    prepare("chest", spec, tmp_path / "out", seed=3)
    train = load_split(tmp_path / "out", "train")
    assert train.labels.shape == (8, 14)
    rows = {tuple(r) for r in arrays["train_labels"].astype(np.int64)}
    assert all(tuple(r) in rows for r in train.labels)  # real rows, not mixed ones


def test_multi_label_file_with_single_label_shape_is_refused(tmp_path, monkeypatch):
    data, _ = _npz_bytes(28, 1, (20, 10, 12), n_classes=2)
    _install(monkeypatch, tmp_path / "raw", "chestmnist", 28, data)
    spec = {"kind": "medmnist", "flag": "chestmnist", "size": 28, "root": str(tmp_path / "raw")}
    with pytest.raises(ValueError, match=r"train_labels has shape \(20, 1\); expected 0/1 \(N, 14\)"):
        prepare("chest", spec, tmp_path / "out", seed=0)
