"""End to end on a multi-label dataset: a small npz in MedMNIST ChestMNIST's exact layout (14 labels, 28 px
greyscale), built by the test, whose label c is a bright block in cell c of a 4x4 grid (learnable, and its
evidence is known). The MD5 that medmnist's table expects is pointed at this file in every process of the run
by a ``sitecustomize`` module on PYTHONPATH (no network). Checks the multi-label contract of every stage: each
method explains chosen labels (occlusion by hand with the label's sigmoid), CAM's head is trained with binary
cross-entropy, the per-label figures, studies, robustness, activations (per-label means by hand), class
visualisations and map quality."""

import hashlib
import io
import json

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from conftest import TEST_CONFIG, snakemake
from jobgraph import all_jobs, printed_jobs

pytestmark = pytest.mark.e2e
medmnist = pytest.importorskip("medmnist")
N_LABELS, SIZE, CELL = 14, 28, 7
METHODS = {
    "saliency": {},
    "gradcam": {},
    "integrated_gradients": {"steps": 4},
    "cam": {},
    "occlusion": {},
    "lime": {"n_samples": 32, "kernel_size": 2, "max_dist": 10, "ratio": 0.5},
}
WINDOW = 7  # occlusion window = stride: every pixel covered by exactly one window
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
            "explain": {"n_eval": 8, "n_confusions": 2},
            "faithfulness": {"keep_percent": 50},
            "occlusion": {"window": WINDOW, "stride": WINDOW, "sweep": [{"window": WINDOW, "stride": WINDOW}]},
        }
    }
    config["methods"] = METHODS
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    snakemake(tmp_path, "--cores", "2", configfile=path)

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

    test_labels = pred["label"]
    present = np.flatnonzero(test_labels.any(0))
    wrong = (test_labels != pred["pred"]).sum(0)
    for method in METHODS:
        f = np.load(base / "explanations" / f"{method}.npz")
        subset, target, label = f["subset"], f["target"], f["label"]
        ex, ev, pc, cf = (subset == s for s in ("example", "evaluation", "per_class", "confusion"))
        assert ev.sum() == 8 and ex.sum() + ev.sum() + pc.sum() + cf.sum() == len(subset)
        assert (label[ex, target[ex]] == 1).all()  # examples: labels the image carries
        np.testing.assert_array_equal(target[ev], f["prob"][ev].argmax(1))  # evaluation: the top label
        np.testing.assert_array_equal(target[pc], present)  # one image per label, carrying it
        assert (label[pc, target[pc]] == 1).all()
        # confusions: the two labels wrong most often, each with its true positive / false negative / false positive
        assert list(dict.fromkeys(target[cf])) == list(np.argsort(-wrong, kind="stable")[:2])
        for r in np.flatnonzero(cf):
            i, c = f["index"][r], target[r]
            assert label[r, c] == test_labels[i, c] and (label[r, c] == 1 or pred["pred"][i, c] == 1)
        assert f["maps"].shape == (len(subset), 1 if method != "gradcam" else len(f["layers"]), SIZE, SIZE)
        assert np.isfinite(f["maps"]).all()
        assert np.abs(f["maps_raw"] if "maps_raw" in f else f["maps"]).max() > 0  # a 2-epoch CAM may be all negative
        table = pd.read_csv(base / "faithfulness" / f"{method}.csv")
        assert table["drop_rate"].between(0, 1).all() and table["increase_rate"].between(0, 1).all()

    # occlusion: the drop of the explained label's sigmoid, window by window, by hand on the dataset's model
    from posthoc.models import load_checkpoint
    from posthoc.train import Normaliser

    model, info = load_checkpoint(base / "model" / "checkpoint.pt")
    f = np.load(base / "explanations" / "occlusion.npz")
    x, target = torch.from_numpy(f["x"]).double(), torch.from_numpy(f["target"])
    model = model.double().eval()
    with torch.no_grad():
        p0 = torch.sigmoid(model(x))[torch.arange(len(x)), target]
        expected = torch.empty(len(x), SIZE, SIZE, dtype=torch.float64)
        for y0 in range(0, SIZE, WINDOW):
            for x0 in range(0, SIZE, WINDOW):
                hidden = x.clone()
                hidden[:, :, y0 : y0 + WINDOW, x0 : x0 + WINDOW] = 0.0
                p = torch.sigmoid(model(hidden))[torch.arange(len(x)), target]
                expected[:, y0 : y0 + WINDOW, x0 : x0 + WINDOW] = (p0 - p)[:, None, None]
    np.testing.assert_allclose(f["maps"][:, 0], expected.numpy(), atol=2e-5)
    np.testing.assert_allclose(f["prob"], torch.sigmoid(model(x)).detach().numpy(), atol=1e-5)

    # CAM's GAP head: trained with binary cross-entropy, scored like the dataset's model
    gap_scores = json.loads((base / "model_gap" / "scores.json").read_text())
    assert gap_scores["test"]["accuracy_is"].startswith("label-wise") and 0 <= gap_scores["test"]["mean_auc"] <= 1
    gap_model, gap_info = load_checkpoint(base / "model_gap" / "checkpoint.pt")
    test_x = np.load(base / "data" / "test_images.npy")
    z = Normaliser(info["mean"], info["std"], info["pixel_scale"])(test_x)  # the test split as the model sees it
    with torch.no_grad():
        logits = gap_model.eval()(z).double()
    bce = torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(test_labels).double())
    assert gap_scores["test"]["loss"] == pytest.approx(bce.item(), rel=1e-4)
    assert "val_auc" in pd.read_csv(base / "model_gap" / "history.csv")

    for name in ("comparison", "per_class", "confusions"):
        assert (base / "explanations" / f"{name}.png").stat().st_size > 5_000
    completeness = pd.read_csv(base / "explanations" / "integrated_gradients_completeness.csv")
    assert set(completeness["subset"]) == {"example", "evaluation", "per_class", "confusion"}

    sweep = pd.read_csv(base / "occlusion" / "sweep.csv")
    assert len(sweep) == 1 and sweep["positions"].iloc[0] == (SIZE // WINDOW) ** 2 and sweep["n_images"].iloc[0] == 10
    assert sweep[["mean_drop", "flip_rate", "images_flipped"]].abs().max().max() <= 1
    lime = pd.read_csv(base / "lime" / "examples.csv")
    assert len(lime) and set(lime["predicted_class"]) <= set(meta["class_names"]) and lime["r2"].le(1).all()

    stability = pd.read_csv(base / "robustness" / "stability.csv")
    clean = stability["level"].eq(0.0) & stability["degradation"].isin(["noise", "brightness"])
    assert stability["accuracy"].between(0, 1).all() and stability.loc[clean, "prediction_changed"].eq(0).all()
    # the clean label-wise accuracy of the evaluation images, as scores.json counts it
    rows = np.sort(np.random.default_rng(3).choice(COUNTS["test"], 10, replace=False))
    assert stability.loc[clean, "accuracy"].iloc[0] == pytest.approx((pred["pred"][rows] == test_labels[rows]).mean())

    top = np.load(base / "activations" / "top.npz")
    assert list(top["layers"]) == info["layers"]
    summary = np.load(base / "activations" / "summary.npz")
    from posthoc.explain.base import capture

    last = len(info["layers"]) - 1
    with torch.no_grad(), capture(model.float(), [info["layers"][-1]]) as store:
        model(z)
        means = store[info["layers"][-1]].flatten(2).mean(2).numpy()  # (N, channels)
    for i in range(len(info["layers"])):
        channels = summary[f"mean_{i}"].shape[0]
        assert top[f"index_{i}"].shape == (channels, 3) and top[f"index_{i}"].dtype == np.int64
        assert top[f"value_{i}"].dtype == np.float32 and top[f"position_{i}"].shape == (channels, 3, 2)
        assert summary[f"class_mean_{i}"].shape == (channels, N_LABELS)
    by_hand = np.stack([means[test_labels[:, j] == 1].mean(0) for j in present], 1)  # per label, its images
    np.testing.assert_allclose(summary[f"class_mean_{last}"][:, present], by_hand, rtol=1e-4, atol=1e-5)

    classes = np.load(base / "features" / "classes.npz")
    np.testing.assert_array_equal(classes["target"], np.arange(N_LABELS))
    assert classes["x"].shape == (N_LABELS, 1, SIZE, SIZE) and np.isfinite(classes["x"]).all()
    scores_csv = pd.read_csv(base / "features" / "scores.csv")
    assert sorted(scores_csv.loc[scores_csv["kind"] == "class", "target"]) == list(range(N_LABELS))

    quality = base / "map_quality"
    sanity = pd.read_csv(quality / "sanity.csv")
    assert set(sanity["method"]) == set(METHODS) and set(sanity["test"]) == {"cascading", "independent"}
    # n: the sanity images whose maps are not constant (randomised deep layers leave Grad-CAM void)
    dense = sanity[sanity["method"].isin(["saliency", "occlusion"])]
    assert len(dense) and dense["n"].eq(3).all() and dense["spearman"].between(-1, 1).all()
    deletion = pd.read_csv(quality / "deletion.csv")
    assert set(deletion["method"]) == set(METHODS)
    assert pd.read_csv(quality / "localisation.csv").empty  # ChestMNIST has no masks
    scores_gradcam = np.load(quality / "gradcam.npz")
    g = np.load(base / "explanations" / "gradcam.npz")
    ev = g["subset"] == "evaluation"
    with torch.no_grad():  # p: the target label's sigmoid of the evaluation images
        p_eval = torch.sigmoid(model.double()(torch.from_numpy(g["x"][ev]).double()))
    np.testing.assert_allclose(
        scores_gradcam["p"], p_eval[torch.arange(int(ev.sum())), torch.from_numpy(g["target"][ev])].numpy(), atol=1e-5
    )
    assert (tmp_path / "results" / "report.html").stat().st_size > 10_000
    # the job graph of tests/jobgraph.py: every stage has its jobs for the multi-label dataset
    dry = snakemake(tmp_path, "-n", "--forceall", "--cores", "2", configfile=path)
    assert {p.job for p in printed_jobs(dry.stdout + dry.stderr)} == all_jobs(config)
