"""imagefolder: a folder of class sub-folders -> the layout, stratified and seeded."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from posthoc.data import load_split, prepare
from posthoc.data import imagefolder as imf
from posthoc.errors import DataError

CLASSES = ["stroma", "adipose", "tumor"]  # sorted: adipose, stroma, tumor


def _tree(root, n=10, mode="RGB", classes=CLASSES):
    """Solid-colour images of varied sizes: red = 60 * (sorted class index + 1), green = file index * 20."""
    for name in classes:
        label = sorted(classes).index(name)
        (root / name).mkdir(parents=True)
        for i in range(n):
            colour = (60 * (label + 1), 20 * i, 100)
            size = (20 + i, 30 - i)
            ext = "png" if i % 3 else "tif"
            if mode == "L":
                Image.new("L", size, colour[0]).save(root / name / f"img{i:02d}.{ext}")
            else:
                Image.new("RGB", size, colour).save(root / name / f"img{i:02d}.{ext}")
    return root


def _spec(root, **kw):
    return {"kind": "imagefolder", "root": str(root), "image_size": 16, "val_fraction": 0.2, "test_fraction": 0.2, **kw}


def test_classes_labels_and_splits(tmp_path):
    root = _tree(tmp_path / "tiles")
    (root / "tumor" / "notes.txt").write_text("not an image")
    meta = prepare("tiles", _spec(root), tmp_path / "out", seed=0)
    assert meta["class_names"] == ["adipose", "stroma", "tumor"]
    assert meta["n_samples"] == {"train": 18, "val": 6, "test": 6}
    assert meta["shape"] == [16, 16, 3] and str(root.resolve()) in meta["source"]
    seen = set()
    for split in ("train", "val", "test"):
        d = load_split(tmp_path / "out", split)
        assert d.images.dtype == np.uint8 and d.images.shape[1:] == (16, 16, 3)
        # solid colours survive resizing: red encodes the class, green the file
        np.testing.assert_array_equal(d.images[:, 8, 8, 0], 60 * (d.labels + 1))
        assert np.all(d.images.reshape(len(d.labels), -1, 3).std(axis=1) < 1)
        ids = set(zip(d.labels.tolist(), (d.images[:, 8, 8, 1] // 20).tolist()))
        assert not ids & seen
        seen |= ids
        if split != "train":  # stratified: 2 of each class's 10 images
            np.testing.assert_array_equal(np.bincount(d.labels, minlength=3), [2, 2, 2])
    assert len(seen) == 30


def test_splits_are_shuffled_not_grouped_by_class(tmp_path):
    root = _tree(tmp_path / "tiles", n=20)
    prepare("tiles", _spec(root), tmp_path / "out", seed=0)
    labels = load_split(tmp_path / "out", "train").labels
    assert np.any(np.diff(labels) < 0)  # not sorted class by class


def test_seed_determinism(tmp_path):
    root = _tree(tmp_path / "tiles")
    a = prepare("t", _spec(root), tmp_path / "a", seed=1)
    b = prepare("t", _spec(root), tmp_path / "b", seed=1)
    c = prepare("t", _spec(root), tmp_path / "c", seed=2)
    assert a["checksum"] == b["checksum"] != c["checksum"]


def test_all_grayscale_stays_single_channel(tmp_path):
    root = _tree(tmp_path / "tiles", mode="L")
    meta = prepare("t", _spec(root), tmp_path / "out", seed=0)
    assert meta["shape"] == [16, 16, 1] and meta["channels"] == 1
    d = load_split(tmp_path / "out", "test")
    np.testing.assert_array_equal(d.images[:, 8, 8, 0], 60 * (d.labels + 1))


def test_mixed_modes_become_rgb(tmp_path):
    root = _tree(tmp_path / "tiles")
    Image.new("L", (20, 20), 77).save(root / "adipose" / "gray.png")
    Image.new("RGBA", (20, 20), (1, 2, 3, 4)).save(root / "stroma" / "alpha.png")
    meta = prepare("t", _spec(root), tmp_path / "out", seed=0)
    assert meta["shape"] == [16, 16, 3] and sum(meta["n_samples"].values()) == 32
    assert np.array_equal(imf.read_image(root / "adipose" / "gray.png", 16, gray=False)[8, 8], [77, 77, 77])


def test_sixteen_bit_grayscale_is_rescaled(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(np.full((10, 10), 65535, np.uint16)).save(path)
    assert imf.read_image(path, 10, gray=True)[0, 0, 0] == 255


def test_errors_name_the_path(tmp_path):
    with pytest.raises(DataError, match=rf"datasets\.t\.data\.root: folder {tmp_path / 'nope'} does not exist"):
        prepare("t", _spec(tmp_path / "nope"), tmp_path / "out", seed=0)
    (tmp_path / "flat").mkdir()
    Image.new("RGB", (4, 4)).save(tmp_path / "flat" / "a.png")
    with pytest.raises(ValueError, match=rf"{tmp_path / 'flat'} has no class sub-folders"):
        prepare("t", _spec(tmp_path / "flat"), tmp_path / "out", seed=0)
    root = _tree(tmp_path / "tiles")
    (root / "empty").mkdir()
    (root / "empty" / "readme.md").write_text("x")
    with pytest.raises(ValueError, match=rf"class folder {root / 'empty'} has no images"):
        prepare("t", _spec(root), tmp_path / "out", seed=0)
    with pytest.raises(ValueError, match=r"datasets\.t\.data\.root is not set"):
        prepare("t", {"kind": "imagefolder"}, tmp_path / "out", seed=0)


def test_unreadable_image_and_too_few(tmp_path):
    root = _tree(tmp_path / "tiles", n=4)
    (root / "tumor" / "broken.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"cannot read image .*broken\.png"):
        prepare("t", _spec(root), tmp_path / "out", seed=0)
    tiny = _tree(tmp_path / "tiny", n=1, classes=["a", "b"])
    with pytest.raises(ValueError, match="only 2 images, too few"):
        prepare("t", _spec(tiny), tmp_path / "out", seed=0)
