"""Every rule script, called through its ``main`` with plain arguments (no Snakemake), in DAG order."""
import importlib.util
import json

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT


def script(name):
    spec = importlib.util.spec_from_file_location(f"script_{name}", ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # no `snakemake` global: only defines main
    return module


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Run prepare_data → eda → train → evaluate → explain → faithfulness → summary → report."""
    root = tmp_path_factory.mktemp("scripts")
    r = root / "results"
    d = r / "toy" / "data"
    spec = {"kind": "blockdigits", "image_size": 40, "n_train": 60, "n_val": 20, "n_test": 30, "digit_size": [12, 18],
            "distractor_size": 6}
    script("prepare_data").main("toy", spec, str(d), 0)
    e = r / "toy" / "eda"
    script("eda").main(str(d), e / "stats.json", e / "sample_batch.png", e / "class_distribution.png",
                       e / "one_per_class.png")
    m = r / "toy" / "model"
    script("train").main(str(d), e / "stats.json", m / "checkpoint.pt", m / "history.csv", m / "scores.json",
                         m / "training_curves.png", {"arch": "alexnet128", "width": 0.05},
                         {"epochs": 1, "batch_size": 16, "lr": 1e-3, "weight_decay": 0.0}, 0, "cpu", m / ".resume.pt")
    v = r / "toy" / "evaluation"
    script("evaluate").main(str(d), m / "checkpoint.pt", v / "predictions.npz", v / "per_class.csv",
                            v / "confusion.csv", v / "confusion.png", v / "roc.png", v / "roc_auc.csv",
                            v / "classification_report.csv", "cpu")
    x = r / "toy" / "explanations"
    script("explain").main(str(d), m / "checkpoint.pt", v / "predictions.npz", "gradcam", {}, 12, 8, 0,
                           x / "gradcam.npz", x / "gradcam.png", "cpu")
    f = r / "toy" / "faithfulness"
    script("faithfulness").main(m / "checkpoint.pt", x / "gradcam.npz", "gradcam", 40, 0.0, 64, f / "gradcam.csv")
    script("faithfulness_summary").main([f / "gradcam.csv"], f / "summary.png")
    config = {"datasets": {"toy": {"data": spec}}, "faithfulness": {"fill": 0.0}}
    script("report").main(str(r), config, r / "report.html")
    return r


def test_prepare_and_eda(chain):
    stats = json.loads((chain / "toy" / "eda" / "stats.json").read_text())
    images = np.load(chain / "toy" / "data" / "train_images.npy")
    np.testing.assert_allclose(stats["mean"], (images / 255.0).reshape(-1, 3).mean(0), rtol=1e-6)


def test_train_writes_checkpoint_and_removes_resume_state(chain):
    m = chain / "toy" / "model"
    assert (m / "checkpoint.pt").exists() and not (m / ".resume.pt").exists()
    assert pd.read_csv(m / "history.csv")["epoch"].tolist() == [1]


def test_explain_contract(chain):
    f = np.load(chain / "toy" / "explanations" / "gradcam.npz")
    assert f["maps"].shape == (len(f["index"]), 5, 40, 40)
    assert (f["subset"] == "evaluation").sum() == 12


def test_faithfulness_and_report(chain):
    table = pd.read_csv(chain / "toy" / "faithfulness" / "gradcam.csv")
    assert table["keep_percent"].eq(40).all() and len(table) == 5
    html = (chain / "report.html").read_text()
    assert html.count("data:image/webp;base64,") == len(list(chain.rglob("*.png")))


def test_scripts_stay_small():
    for path in (ROOT / "scripts").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 60, f"{path.name} grew logic: move it into the package"
