"""MNIST-1D: generated offline with the package's own seed; seeded stratified validation split."""

from __future__ import annotations

import random
import urllib.request

import numpy as np
import pytest

from posthoc.data import load_split, prepare, read_meta
from posthoc.data import mnist1d as m1d


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the test tried to use the network")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    import requests

    monkeypatch.setattr(requests, "get", refuse)


@pytest.fixture(scope="module")
def reference():
    """The package's own dataset, generated directly (the literature's default split)."""
    from mnist1d.data import get_dataset_args, make_dataset

    state = np.random.get_state()
    data = make_dataset(get_dataset_args())
    np.random.set_state(state)
    return data


def _rows(x):
    return sorted(map(bytes, np.ascontiguousarray(x, dtype=np.float32)))


def test_default_spec_matches_the_package(tmp_path, monkeypatch, reference):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    np_state, py_state = np.random.get_state(), random.getstate()
    meta = prepare("mnist1d", {"kind": "mnist1d", "n_val": 500}, out, seed=1)
    # the global generators the package reseeds are restored, and nothing is written outside outdir
    assert np.array_equal(np.random.get_state()[1], np_state[1]) and random.getstate() == py_state
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert not [p for p in out.iterdir() if p.name.startswith(".")]

    assert meta["n_samples"] == {"train": 3500, "val": 500, "test": 1000}
    assert (meta["ndim"], meta["channels"], meta["shape"]) == (1, 1, [40])
    assert meta["class_names"] == [str(i) for i in range(10)] and not meta["has_masks"]
    assert meta["params"]["num_samples"] == 5000 and meta["params"]["train_split"] == 0.8
    assert "mnist1d" in meta["source"]
    train, val, test = (load_split(out, s) for s in ("train", "val", "test"))
    assert train.images.dtype == np.float32 and train.labels.dtype == np.int64
    # test is the package's test set, unchanged; train + val is exactly the package's train set
    np.testing.assert_array_equal(test.images, reference["x_test"].astype(np.float32))
    np.testing.assert_array_equal(test.labels, reference["y_test"])
    assert _rows(np.concatenate([train.images, val.images])) == _rows(reference["x"])
    np.testing.assert_array_equal(
        np.bincount(np.concatenate([train.labels, val.labels]), minlength=10), np.bincount(reference["y"], minlength=10)
    )
    # validation is stratified: each class within one sample of its share of train
    share = np.bincount(reference["y"], minlength=10) * 500 / 4000
    assert np.all(np.abs(np.bincount(val.labels, minlength=10) - share) < 1)


def test_seed_determinism(tmp_path):
    spec = {"kind": "mnist1d", "n_val": 50, "num_samples": 600}
    a = prepare("m", spec, tmp_path / "a", seed=3)
    b = prepare("m", spec, tmp_path / "b", seed=3)
    c = prepare("m", spec, tmp_path / "c", seed=4)
    assert a["checksum"] == b["checksum"] != c["checksum"]
    assert a["n_samples"] == {"train": 430, "val": 50, "test": 120}
    # the seed only moves samples between train and val; the test set does not depend on it
    np.testing.assert_array_equal(load_split(tmp_path / "a", "test").images, load_split(tmp_path / "c", "test").images)
    assert read_meta(tmp_path / "a")["params"]["seed"] == 3


def test_train_split_and_num_samples_are_passed_through():
    data = m1d.generate(num_samples=300, train_split=0.5)
    assert data["x"].shape == (150, 40) and data["x_test"].shape == (150, 40)
    assert data["x"].dtype == np.float32 and data["y"].dtype == np.int64


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"n_val": 4000}, r"datasets\.m\.data\.n_val must be in \(0, 4000\)"),
        ({"n_val": 0}, r"datasets\.m\.data\.n_val"),
        ({"train_split": 1.2}, r"datasets\.m\.data\.train_split"),
        ({"num_samples": 5}, r"datasets\.m\.data\.num_samples"),
    ],
)
def test_bad_spec(tmp_path, spec, message):
    with pytest.raises(ValueError, match=message):
        prepare("m", {"kind": "mnist1d", **spec}, tmp_path, seed=0)
