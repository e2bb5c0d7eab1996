"""Every rule script, run as Snakemake would (a ``snakemake`` object with the rule's named inputs, outputs,
params and wildcards; no Snakemake), in DAG order."""

import json
import runpy
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT


def script(name, *, input=None, output=None, params=None, wildcards=None, log=None):
    """Run ``scripts/<name>.py`` with a stand-in for Snakemake's ``snakemake`` object."""
    job = SimpleNamespace(
        input=dict(input or {}),
        output=dict(output or {}),
        params=dict(params or {}),
        wildcards=dict(wildcards or {}),
        log=[str(log)] if log else [],
        threads=1,
    )
    runpy.run_path(str(ROOT / "scripts" / f"{name}.py"), init_globals={"snakemake": job})


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    """Run prepare_data → eda → train → evaluate → explain → faithfulness → summary → report."""
    root = tmp_path_factory.mktemp("scripts")
    r = root / "results"
    d = r / "toy" / "data"
    toy = {"dataset": "toy"}
    spec = {
        "kind": "blockdigits",
        "image_size": 40,
        "n_train": 60,
        "n_val": 20,
        "n_test": 30,
        "digit_size": [12, 18],
        "distractor_size": 6,
    }
    arrays = [str(d / f"{s}_{k}.npy") for s in ("train", "val", "test") for k in ("images", "labels")]
    script(
        "prepare_data",
        output={"arrays": arrays, "meta": d / "meta.json"},
        params={"spec": spec, "seed": 0},
        wildcards=toy,
    )
    e = r / "toy" / "eda"
    script(
        "eda",
        input={"meta": d / "meta.json"},
        output={
            "stats": e / "stats.json",
            "sample_batch": e / "sample_batch.png",
            "class_distribution": e / "class_distribution.png",
            "one_per_class": e / "one_per_class.png",
        },
        wildcards=toy,
        log=root / "logs" / "eda.log",
    )
    m = r / "toy" / "model"
    script(
        "train",
        input={"meta": d / "meta.json", "stats": e / "stats.json"},
        output={
            "checkpoint": m / "checkpoint.pt",
            "history": m / "history.csv",
            "scores": m / "scores.json",
            "curves": m / "training_curves.png",
        },
        params={
            "model": {"arch": "alexnet128", "width": 0.05, "explain_layers": "rectified", "cam_model": "frozen"},
            "train": {"epochs": 1, "batch_size": 16, "lr": 1e-3, "weight_decay": 0.0, "freeze": "none"},
            "seed": 0,
            "device": "cpu",
            "resume": str(m / ".resume.pt"),
            "code": "ignored",
        },
        wildcards=toy,
    )
    v = r / "toy" / "evaluation"
    script(
        "evaluate",
        input={"meta": d / "meta.json", "checkpoint": m / "checkpoint.pt"},
        output={
            "predictions": v / "predictions.npz",
            "per_class": v / "per_class.csv",
            "confusion_csv": v / "confusion.csv",
            "confusion_png": v / "confusion.png",
            "roc_png": v / "roc.png",
            "roc_auc": v / "roc_auc.csv",
            "report": v / "classification_report.csv",
        },
        params={"device": "cpu"},
        wildcards=toy,
    )
    x = r / "toy" / "explanations"
    script(
        "explain",
        input={"meta": d / "meta.json", "checkpoint": m / "checkpoint.pt", "predictions": v / "predictions.npz"},
        output={"maps": x / "gradcam.npz", "figure": x / "gradcam.png"},
        params={"method_params": {}, "n_eval": 12, "n_confusions": 4, "batch_size": 8, "seed": 0, "device": "cpu"},
        wildcards={**toy, "method": "gradcam"},
    )
    f = r / "toy" / "faithfulness"
    script(
        "faithfulness",
        input={"checkpoint": m / "checkpoint.pt", "maps": x / "gradcam.npz"},
        output={"table": f / "gradcam.csv"},
        params={"keep_percent": 40, "fill": 0.0, "batch_size": 64, "device": "cpu"},
        wildcards={**toy, "method": "gradcam"},
    )
    script(
        "faithfulness_summary",
        input={"tables": [f / "gradcam.csv"]},
        output={"summary": f / "summary.png"},
        wildcards=toy,
    )
    config = {"datasets": {"toy": {"data": spec}}, "faithfulness": {"fill": 0.0}}
    script(
        "report",
        output={"html": r / "report.html"},
        params={"results": str(r), "config": config, "speed_tables": {}, "captions": {}},
    )
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
        assert "run_rule(run, snakemake)" in path.read_text(), f"{path.name}: pass the rule through by name"
