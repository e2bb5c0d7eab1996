"""ihc: tissue patches labelled by stain separation -- determinism, disjoint splits, labels that match masks."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import color, data as skdata

from posthoc.config import ConfigError, validate_config
from posthoc.data import ihc, load_split, prepare

SMALL = {**ihc.DEFAULTS, "n_train": 60, "n_val": 30, "n_test": 31}


@pytest.fixture(scope="module")
def generated():
    return ihc.generate(SMALL, seed=5)


def test_same_seed_same_patches_other_seed_others(generated):
    again = ihc.generate(SMALL, seed=5)
    other = ihc.generate(SMALL, seed=6)
    for split in ("train", "val", "test"):
        for key in ("images", "labels", "masks", "corner", "transform"):
            np.testing.assert_array_equal(generated[split][key], again[split][key])
    assert not np.array_equal(generated["train"]["images"], other["train"]["images"])


def test_no_slide_pixel_in_two_splits(generated):
    size = SMALL["patch_size"]
    owner = np.full((512, 512), "", dtype=object)
    for split, (corners, _) in ihc.split_pools(size, SMALL["stride"]).items():  # every usable position
        covered = np.zeros((512, 512), bool)
        for y, x in corners:
            covered[y : y + size, x : x + size] = True
        assert not (covered & (owner != "")).any(), f"{split} shares pixels with another split"
        owner[covered] = split
        drawn = generated[split]["corner"]
        assert covered[drawn[:, 0], drawn[:, 1]].all() and covered[drawn[:, 0] + size - 1, drawn[:, 1] + size - 1].all()


def test_classes_are_balanced_and_present_in_every_split(generated):
    for split, n in (("train", 60), ("val", 30), ("test", 31)):
        counts = np.bincount(generated[split]["labels"], minlength=3)
        assert counts.sum() == n and counts.max() - counts.min() <= 1 and counts.min() > 0


def _transform(a, t):
    b = np.rot90(a, t % 4)
    return b[:, ::-1] if t >= 4 else b


def test_images_and_masks_are_the_transformed_slide_and_its_stain_classes(generated):
    """Recomputed here from scikit-image directly: the mask is the pixels of the label's stain class,
    and the label follows from the mask's share of the patch."""
    rgb = skdata.immunohistochemistry()
    hed = color.rgb2hed(rgb)
    dab = hed[..., 2] > ihc.DAB_THRESHOLD
    haem = (hed[..., 0] > ihc.HAEMATOXYLIN_THRESHOLD) & ~dab
    size = SMALL["patch_size"]
    for split in ("train", "test"):
        g = generated[split]
        for image, label, mask, (y, x), t in zip(g["images"], g["labels"], g["masks"], g["corner"], g["transform"]):
            window = np.s_[y : y + size, x : x + size]
            np.testing.assert_array_equal(image, _transform(rgb[window], t))
            kind = [dab, haem, ~dab & ~haem][label][window]
            np.testing.assert_array_equal(mask, _transform(kind, t).astype(np.uint8))
            fd, fh = dab[window].mean(), haem[window].mean()
            if label == 0:
                assert fd >= ihc.DAB_MIN
            else:
                assert fd < ihc.OTHER_DAB_MAX and (fh >= ihc.HAEM_MIN if label == 1 else fh < ihc.HAEM_MAX)


def test_prepared_layout_has_masks(tmp_path):
    meta = prepare("tissue", SMALL, tmp_path, seed=5)
    assert meta["class_names"] == ihc.CLASS_NAMES and meta["has_masks"] and meta["shape"] == [48, 48, 3]
    test = load_split(tmp_path, "test")
    assert test.masks.shape == (31, 48, 48) and test.images.dtype == np.uint8


def test_bad_values_are_named_when_the_config_is_read():
    config = {
        "datasets": {
            "t": {
                "data": {"kind": "ihc", "patch_size": 200},
                "model": {"arch": "alexnet128"},
                "train": {"epochs": 1, "batch_size": 8},
            }
        }
    }
    with pytest.raises(ConfigError, match=r"datasets\.t\.data\.patch_size"):
        validate_config(config)
    config["datasets"]["t"]["data"] = {"kind": "ihc", "n_val": 2}
    with pytest.raises(ConfigError, match=r"datasets\.t\.data\.n_val"):
        validate_config(config)
