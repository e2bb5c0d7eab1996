"""End to end on a multi-label dataset: a small npz in MedMNIST ChestMNIST's exact layout (14 labels, 28 px
greyscale), built by the test, whose label c is a bright block in cell c of a 4x4 grid (learnable, and its
evidence is known). The MD5 that medmnist's table expects is pointed at this file in every process of the run
by a ``sitecustomize`` module on PYTHONPATH (no network). Checks the multi-label contract of every stage that
runs, and that the single-label stages are not in the DAG."""

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import TEST_CONFIG, snakemake

pytestmark = pytest.mark.e2e
medmnist = pytest.importorskip("medmnist")
N_LABELS, SIZE, CELL = 14, 28, 7
METHODS = {"saliency": {}, "gradcam": {}, "integrated_gradients": {"steps": 4}}
COUNTS = {"train": 160, "val": 40, "test": 40}

SITECUSTOMIZE = """
import importlib.util, sys
from pathlib import Path

spec = importlib.util.find_spec("medmnist")  # the package's info module, loaded without running the package
path = Path(spec.origin).with_name("info.py")
info = importlib.util.spec_from_file_location("medmnist.info", path)
module = importlib.util.module_from_spec(info)
sys.modules["medmnist.info"] = module
info.loader.exec_module(module)
module.INFO["chestmnist"] = {**module.INFO["chestmnist"], "MD5": "{md5}", "url": "https://example.invalid/chestmnist.npz"}
"""


def chest_npz(seed=0) -> bytes:
    rng = np.random.default_rng(seed)
    arrays = {}
    for split, n in COUNTS.items():
        labels = (rng.random((n, N_LABELS)) < 0.25).astype(np.uint8)
        images = rng.integers(0, 60, (n, SIZE, SIZE), dtype=np.uint8)
        for c in range(N_LABELS):
            y, x = divmod(c, 4)
            images[labels[:, c] == 1, y * CELL + 1 : y * CELL + CELL - 1, x * CELL + 1 : x * CELL + CELL - 1] = 230
        arrays[f"{split}_images"], arrays[f"{split}_labels"] = images, labels
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def test_multi_label_chestmnist_end_to_end(tmp_path, monkeypatch):
    raw = tmp_path / "raw"
    raw.mkdir()
    data = chest_npz()
    (raw / "chestmnist.npz").write_bytes(data)
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE.replace("{md5}", hashlib.md5(data).hexdigest()))
    monkeypatch.setenv("PYTHONPATH", str(site))
    config = yaml.safe_load(TEST_CONFIG.read_text())
    config["datasets"] = {
        "chest": {
            "data": {"kind": "medmnist", "flag": "chestmnist", "size": SIZE, "root": str(raw)},
            "model": {"arch": "vgg7", "width": 0.25},
            "train": {"epochs": 2, "batch_size": 32, "lr": 3.0e-3},
            "explain": {"n_eval": 8},
            "faithfulness": {"keep_percent": 50},
        }
    }
    config["methods"] = METHODS
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = snakemake(tmp_path, "--cores", "2", configfile=path)
    jobs = proc.stdout + proc.stderr
    for skipped in ("train_gap", "explain_summary", "robustness", "map_quality", "activations", "occlusion_study"):
        assert f"rule {skipped}:" not in jobs and f"rule {skipped}\n" not in jobs

    base = tmp_path / "results" / "chest"
    meta = json.loads((base / "data" / "meta.json").read_text())
    assert meta["task"] == "multi-label" and len(meta["class_names"]) == N_LABELS
    assert np.load(base / "data" / "test_labels.npy").shape == (COUNTS["test"], N_LABELS)
    scores = json.loads((base / "model" / "scores.json").read_text())
    assert set(scores) == {"train", "val", "test"}
    assert scores["test"]["accuracy_is"].startswith("label-wise") and 0 <= scores["test"]["mean_auc"] <= 1
    history = pd.read_csv(base / "model" / "history.csv")
    assert list(history["epoch"]) == [1, 2] and history["val_auc"].between(0, 1).all()

    pred = np.load(base / "evaluation" / "predictions.npz")
    assert pred["probs"].shape == pred["label"].shape == pred["pred"].shape == (COUNTS["test"], N_LABELS)
    np.testing.assert_array_equal(pred["pred"], (pred["probs"] >= 0.5).astype(np.int64))
    confusion = pd.read_csv(base / "evaluation" / "confusion.csv")
    assert list(confusion.columns[:5]) == ["class", "tn", "fp", "fn", "tp"]
    assert (confusion[["tn", "fp", "fn", "tp"]].sum(1) == COUNTS["test"]).all()
    np.testing.assert_array_equal(confusion["tp"] + confusion["fn"], pred["label"].sum(0))
    report = pd.read_csv(base / "evaluation" / "classification_report.csv")
    assert len(report) == N_LABELS + 1 and list(report["support"][:-1]) == list(pred["label"].sum(0))
    assert len(pd.read_csv(base / "evaluation" / "roc_auc.csv")) == N_LABELS
    assert (base / "eda" / "class_distribution.png").stat().st_size > 0

    for method in METHODS:
        f = np.load(base / "explanations" / f"{method}.npz")
        ex, ev = f["subset"] == "example", f["subset"] == "evaluation"
        assert ev.sum() == 8 and ex.sum() + ev.sum() == len(f["subset"])
        assert (f["label"][ex, f["target"][ex]] == 1).all()  # examples: labels the image carries
        np.testing.assert_array_equal(f["target"][ev], f["prob"][ev].argmax(1))  # evaluation: the top label
        table = pd.read_csv(base / "faithfulness" / f"{method}.csv")
        assert table["drop_rate"].between(0, 1).all() and table["increase_rate"].between(0, 1).all()
    for folder in ("robustness", "map_quality", "activations", "features", "model_gap"):
        assert not (base / folder).exists()
    assert (tmp_path / "results" / "report.html").stat().st_size > 10_000
