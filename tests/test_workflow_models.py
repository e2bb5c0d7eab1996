"""End to end with architectures the study does not train itself: a torchvision ResNet-18 fine-tuned
from a weights file (random weights saved by the test: no download), and an existing model given by
``model.checkpoint``. One small image dataset, the gradient methods and CAM; contracted outputs checked."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision
import yaml

from posthoc.models import load_checkpoint

from conftest import TEST_CONFIG, snakemake

pytestmark = pytest.mark.e2e
METHODS = ["gradcam", "saliency", "guided_gradcam", "deconvnet", "cam"]


def tiny_config(tmp_path, model):
    config = yaml.safe_load(TEST_CONFIG.read_text())
    ds = config["datasets"]["blockdigits"]
    ds.update(
        model=model,
        train={"epochs": 1, "batch_size": 32, "freeze": "features", "cam_epochs": 3},
        explain={"n_eval": 12},
    )
    config["datasets"] = {"blockdigits": ds}
    config["methods"] = {m: {} for m in METHODS}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def check_contract(workdir, n_eval=12):
    base = workdir / "results" / "blockdigits"
    model, info = load_checkpoint(base / "model" / "checkpoint.pt")
    assert info["arch"] == "resnet18" and info["layers"] == ["layer1", "layer2", "layer3", "layer4"]
    assert set(json.loads((base / "model" / "scores.json").read_text())) == {"train", "val", "test"}
    for name in ("predictions.npz", "per_class.csv", "confusion.png", "roc.png", "classification_report.csv"):
        assert (base / "evaluation" / name).stat().st_size > 0
    gap, gap_info = load_checkpoint(base / "model_gap" / "checkpoint.pt")
    assert gap_info["gap_layer"] == "layer4"
    for method in METHODS:
        f = np.load(base / "explanations" / f"{method}.npz")
        layers = ["trunk"] if method == "cam" else ["input"] if method == "saliency" else info["layers"]
        assert f["layers"].tolist() == layers and str(f["explain_layers"]) == "rectified"
        assert f["maps"].shape == (len(f["index"]), len(layers), *f["x"].shape[2:]) and np.isfinite(f["maps"]).all()
        assert (f["subset"] == "evaluation").sum() == n_eval
        table = pd.read_csv(base / "faithfulness" / f"{method}.csv")
        assert len(table) == len(layers) and table["drop_rate"].between(0, 1).all()
    assert (workdir / "results" / "report.html").stat().st_size > 10_000


def test_torchvision_resnet18_from_a_weights_file(tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "resnet18-imagenet.pth"
    torch.save(torchvision.models.resnet18().state_dict(), weights)
    config = tiny_config(
        tmp_path, {"arch": "resnet18", "weights": str(weights), "pretrained_normalisation": "imagenet"}
    )
    snakemake(tmp_path, "--cores", "2", configfile=config)
    check_contract(tmp_path)
    _, info = load_checkpoint(tmp_path / "results" / "blockdigits" / "model" / "checkpoint.pt")
    assert info["mean"] == [0.485, 0.456, 0.406]


def test_existing_model_checkpoint(tmp_path):
    torch.manual_seed(0)
    n_classes = 10
    existing = tmp_path / "my_model.pth"
    user = torchvision.models.resnet18(num_classes=n_classes)
    torch.save(user.state_dict(), existing)
    config = tiny_config(tmp_path, {"arch": "resnet18", "checkpoint": str(existing)})
    proc = snakemake(tmp_path, "--cores", "2", configfile=config)
    check_contract(tmp_path)
    base = tmp_path / "results" / "blockdigits"
    model, info = load_checkpoint(base / "model" / "checkpoint.pt")
    assert info["epochs"] == 0 and all(torch.equal(v, user.state_dict()[k]) for k, v in model.state_dict().items())
    # no training job: rule import_model took the file in; the model folder has no training history
    assert "rule import_model:" in proc.stdout + proc.stderr and "rule train:" not in proc.stdout + proc.stderr
    assert (
        not (base / "model" / "history.csv").exists() and not (tmp_path / "results/logs/blockdigits/train.log").exists()
    )
