"""MNIST-1D (Greydanus 2020): 1-D signals of length 40, generated offline.

``mnist1d.data.make_dataset`` is called directly (never ``get_dataset``, which downloads a
pickle and writes ``./mnist1d_data.pkl``); it touches neither the network nor the disk. It
seeds numpy's and Python's *global* generators with the package's own seed (42), so the
default spec reproduces the literature's 4000 train / 1000 test signals; we restore the
global generator state afterwards.
"""
from __future__ import annotations

import contextlib
import random

import numpy as np

from posthoc.data.layout import stratified_partition
from posthoc.errors import DataError

DEFAULTS = {"kind": "mnist1d", "n_val": 500, "num_samples": 5000, "train_split": 0.8}
CLASS_NAMES = [str(d) for d in range(10)]
LENGTH = 40  # samples per signal (the mnist1d package's final_seq_length)


def input_size(params: dict) -> int:
    """Samples per signal."""
    return LENGTH


@contextlib.contextmanager
def _preserve_global_rng():
    np_state, py_state = np.random.get_state(), random.getstate()
    try:
        yield
    finally:
        np.random.set_state(np_state)
        random.setstate(py_state)


def generate(num_samples: int = 5000, train_split: float = 0.8) -> dict:
    """The package's own dataset (its default generator seed) as float32/int64 arrays."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args(as_dict=False)
    args.num_samples, args.train_split = int(num_samples), float(train_split)
    with _preserve_global_rng():
        data = make_dataset(args)
    return {
        "x": np.asarray(data["x"], dtype=np.float32),
        "y": np.asarray(data["y"], dtype=np.int64),
        "x_test": np.asarray(data["x_test"], dtype=np.float32),
        "y_test": np.asarray(data["y_test"], dtype=np.int64),
    }


def check(name: str, params: dict) -> None:
    key = f"datasets.{name}.data"
    if int(params["num_samples"]) < 20:
        raise DataError(f"{key}.num_samples must be >= 20, got {params['num_samples']}")
    if not 0 < float(params["train_split"]) < 1:
        raise DataError(f"{key}.train_split must be in (0, 1), got {params['train_split']}")
    n_train = int(int(params["num_samples"]) // 10 * 10 * float(params["train_split"]))
    if not 0 < int(params["n_val"]) < n_train:
        raise DataError(f"{key}.n_val must be in (0, {n_train}) (the generated train size), got {params['n_val']}")


def build(name: str, params: dict, seed: int, workdir=None):
    """Generate the signals; carve a stratified, seeded validation split out of train."""
    check(name, params)
    data = generate(params["num_samples"], params["train_split"])
    rng = np.random.default_rng([seed, 1])
    parts = stratified_partition(data["y"], {"val": int(params["n_val"]), "train": None}, rng)
    splits = {
        "train": {"images": data["x"][parts["train"]], "labels": data["y"][parts["train"]]},
        "val": {"images": data["x"][parts["val"]], "labels": data["y"][parts["val"]]},
        "test": {"images": data["x_test"], "labels": data["y_test"]},
    }
    import mnist1d

    version = getattr(mnist1d, "__version__", None) or _dist_version("mnist1d")
    source = f"mnist1d {version} (make_dataset, generated offline with the package's default seed)"
    return splits, CLASS_NAMES, source


def _dist_version(dist: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "unknown"
