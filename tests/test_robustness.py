"""Robustness sweeps (degradations, rank correlation, stability table) and the rule scripts of the
perturbation family (occlusion_study, lime_study, robustness) on small synthetic studies."""

import runpy
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.stats import spearmanr

from posthoc import robustness
from posthoc.data.layout import write_dataset
from posthoc.models import AlexNet128, CNN1D, explainable_layers, save_checkpoint

from conftest import ROOT


# --- degradations and rank correlation ----------------------------------------------------------


def test_clean_levels_leave_inputs_unchanged_and_images_stay_in_range():
    raw = torch.rand(3, 3, 8, 8, dtype=torch.float64)
    noise = torch.randn_like(raw)
    for kind, level in robustness.CLEAN_LEVEL.items():
        torch.testing.assert_close(robustness.degrade(raw, kind, level, noise), raw)
    for kind, level in (("noise", 0.5), ("brightness", 0.6), ("contrast", 3.0), ("brightness", -2.0)):
        out = robustness.degrade(raw, kind, level, noise)
        assert out.min() >= 0 and out.max() <= 1
    low = robustness.degrade(raw, "contrast", 0.5, clip=False)
    torch.testing.assert_close(low.mean(dim=(2, 3)), raw.mean(dim=(2, 3)))  # contrast keeps the mean
    torch.testing.assert_close(low.std(dim=(2, 3)), 0.5 * raw.std(dim=(2, 3)))  # and scales the spread
    signal = torch.zeros(2, 2, 10, dtype=torch.float64)
    shifted = robustness.degrade(signal, "brightness", 0.5, scale=[2.0, 4.0], clip=False)
    assert shifted[:, 0].eq(1.0).all() and shifted[:, 1].eq(2.0).all()  # signals: in units of the std
    with pytest.raises(ValueError, match="unknown degradation 'blur'"):
        robustness.degrade(raw, "blur", 1.0)


def test_rank_correlation_is_spearman_with_ties_and_nan_for_constant_maps():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 5, (6, 40)).astype(float)  # many ties
    b = a + rng.normal(0, 2, a.shape)
    ours = robustness.rank_correlation(a, b)
    ref = [spearmanr(x, y).statistic for x, y in zip(a, b)]
    np.testing.assert_allclose(ours, ref, rtol=1e-12)
    np.testing.assert_allclose(robustness.rank_correlation(a, a), 1.0)
    assert np.isnan(robustness.rank_correlation(np.ones((1, 5)), b[:1, :5])).all()


def test_sweep_is_seeded_and_its_clean_level_is_exact():
    torch.manual_seed(0)
    model = AlexNet128(3, 4, width=0.125).eval()
    x, label = torch.randn(5, 3, 40, 40), torch.tensor([0, 1, 2, 3, 0])
    levels = {"noise": [0.0, 0.3], "contrast": [1.0, 0.2]}
    kw = dict(mean=[0.5] * 3, std=[0.25] * 3, levels=levels, layer="features.10", clip=True, batch_size=2, seed=4)
    rows = robustness.sweep(model, x, label, **kw)
    pd.testing.assert_frame_equal(rows, robustness.sweep(model, x, label, **kw))
    assert len(rows) == 5 * 4
    clean = rows[rows["level"].isin([0.0, 1.0]) & ((rows["degradation"] == "noise") == (rows["level"] == 0.0))]
    assert len(clean) == 10 and (clean["pred"] == clean["clean_pred"]).all()
    assert np.allclose(clean[["rank_corr_top", "rank_corr_original"]].dropna(), 1.0)
    table = robustness.summarise(rows)
    assert table[["degradation", "level"]].values.tolist() == [
        ["noise", 0.0],
        ["noise", 0.3],
        ["contrast", 1.0],
        ["contrast", 0.2],
    ]
    assert (table["n"] == 5).all() and table["accuracy"].between(0, 1).all()
    assert table.loc[table["level"].isin([0.0]), "prediction_changed"].eq(0).all()


# --- the three rule scripts on small synthetic studies ------------------------------------------


def script(name, *, input=None, output=None, params=None, wildcards=None):
    """Run ``scripts/<name>.py`` with a stand-in for Snakemake's ``snakemake`` object (named keys only)."""
    job = SimpleNamespace(
        input=dict(input or {}),
        output=dict(output or {}),
        params=dict(params or {}),
        wildcards=dict(wildcards or {"dataset": "toy"}),
        log=[],
        threads=1,
    )
    runpy.run_path(str(ROOT / "scripts" / f"{name}.py"), init_globals={"snakemake": job})


def inputs(study):
    return {
        "meta": study / "data" / "meta.json",
        "checkpoint": study / "checkpoint.pt",
        "predictions": study / "predictions.npz",
    }


@pytest.fixture(scope="module", params=["image", "signal"])
def study(request, tmp_path_factory):
    """A prepared dataset, a (sharpened, untrained) checkpoint and its test predictions."""
    root = tmp_path_factory.mktemp(request.param)
    rng = np.random.default_rng(0)
    n_classes, n = 3, 24
    if request.param == "image":
        images = rng.integers(0, 256, (n, 40, 40, 3), dtype=np.uint8)
        model = AlexNet128(3, n_classes, width=0.0625)
        shape, mean, std, scale = [40, 40], [0.5] * 3, [0.29] * 3, 255.0
    else:
        images = rng.normal(0, 1, (n, 30)).astype(np.float32)
        model = CNN1D(1, n_classes, 30, channels=(8, 8))
        shape, mean, std, scale = [30], [0.0], [1.0], 1.0
    labels = (np.arange(n) % n_classes).astype(np.int64)
    splits = {s: {"images": images, "labels": labels} for s in ("train", "val", "test")}
    data_dir = root / "data"
    write_dataset(data_dir, "toy", "synthetic", splits, ["a", "b", "c"], "synthetic", {})
    torch.manual_seed(0)
    with torch.no_grad():
        model.classifier[-1].weight.mul_(30)
    model.eval()
    info = {
        "dataset": "toy",
        "arch": "alexnet128" if request.param == "image" else "cnn1d",
        "arch_kwargs": {"width": 0.0625} if request.param == "image" else {"channels": [8, 8]},
        "class_names": ["a", "b", "c"],
        "in_channels": 3 if request.param == "image" else 1,
        "input_shape": shape,
        "mean": mean,
        "std": std,
        "pixel_scale": scale,
        "layers": explainable_layers(model),
    }
    save_checkpoint(root / "checkpoint.pt", model, info)
    from posthoc.preprocess import to_model_input

    with torch.no_grad():
        probs = torch.softmax(model(to_model_input(images, mean, std, scale)), 1).numpy()
    pred = probs.argmax(1)
    if (pred == labels).all() or (pred != labels).all():  # make sure both outcomes exist
        labels[0] = (pred[0] + 1) % n_classes if (pred == labels).all() else pred[0]
        np.save(data_dir / "test_labels.npy", labels)
    np.savez(root / "predictions.npz", probs=probs.astype(np.float32), label=labels, pred=pred)
    return root


def test_occlusion_study_script(study):
    out = study / "occlusion"
    sweep = {"sweep": [{"window": 8, "stride": 4}, {"window": 24, "stride": 6}], "n_eval": 6, "position": "max_drop"}
    script(
        "occlusion_study",
        input=inputs(study),
        output={"correct": out / "c.png", "wrong": out / "w.png", "sweep": out / "sweep.csv"},
        params={
            "settings": sweep["sweep"],
            "n_eval": sweep["n_eval"],
            "position": sweep["position"],
            "fill": 0.0,
            "batch_size": 16,
            "seed": 0,
            "device": "cpu",
        },
    )
    table = pd.read_csv(out / "sweep.csv")
    assert table["window"].tolist() == [8, 24] and (table["n_images"] == 6).all()
    assert table[["flip_rate", "images_flipped"]].stack().between(0, 1).all()
    assert (out / "c.png").stat().st_size > 5000 and (out / "w.png").stat().st_size > 5000


def test_lime_study_script(study):
    out = study / "lime"
    params = dict(
        n_samples=24,
        keep_probability=0.5,
        kernel_width=0.25,
        kernel_size=2,
        max_dist=10,
        ratio=0.5,
        segment_length=3,
        alpha=1.0,
        fill=0.0,
        batch_size=32,
        seed=0,
        target="predicted",
    )
    settings = {
        "settings": [{"keep_probability": 0.4, "kernel_width": 0.5}, {"keep_probability": 0.8, "kernel_width": 1.0}],
        "top_k": [2, 4],
        "n_examples": 2,
    }
    script(
        "lime_study",
        input=inputs(study),
        output={"correct": out / "c.png", "wrong": out / "w.png", "examples": out / "examples.csv"},
        params={**settings, "lime_params": params, "seed": 0, "device": "cpu"},
    )
    table = pd.read_csv(out / "examples.csv")
    assert set(table["outcome"]) == {"correct", "wrong"} and set(table["kernel_width"]) == {0.5, 1.0}
    assert len(table) == 2 * 2 * 2 and np.isfinite(table["r2"]).all()
    assert (out / "c.png").stat().st_size > 5000 and (out / "w.png").stat().st_size > 5000


def test_robustness_script(study):
    out = study / "robustness"
    levels = {"noise": [0.0, 0.2], "brightness": [0.0, 0.3], "contrast": [1.0, 0.4]}
    figures = [out / f"{k}.png" for k in levels]
    script(
        "robustness",
        input=inputs(study),
        output={"figures": figures, "table": out / "stability.csv"},
        params={"levels": levels, "n_eval": 8, "batch_size": 5, "seed": 0, "device": "cpu"},
    )
    table = pd.read_csv(out / "stability.csv")
    assert len(table) == 6 and (table["n"] == 8).all()
    assert all(f.stat().st_size > 5000 for f in figures)


def test_new_scripts_stay_small():
    for name in ("occlusion_study", "lime_study", "robustness"):
        assert len((ROOT / "scripts" / f"{name}.py").read_text().splitlines()) <= 60


@pytest.mark.e2e
def test_perturbation_family_in_the_e2e_run(completed_run):
    import yaml

    from conftest import TEST_CONFIG

    config = yaml.safe_load(TEST_CONFIG.read_text())
    levels = config["robustness"]["levels"]
    for dataset in config["datasets"]:
        base = completed_run / "results" / dataset
        for method in ("occlusion", "lime"):
            table = pd.read_csv(base / "faithfulness" / f"{method}.csv")
            assert table["layer"].tolist() == ["input"] and table["drop_rate"].between(0, 1).all()
        sweep = pd.read_csv(base / "occlusion" / "sweep.csv")
        assert sweep["window"].tolist() == [s["window"] for s in config["datasets"][dataset]["occlusion"]["sweep"]]
        assert len(pd.read_csv(base / "lime" / "examples.csv")) > 0
        stability = pd.read_csv(base / "robustness" / "stability.csv")
        assert len(stability) == sum(len(v) for v in levels.values())
        clean = stability[
            stability["level"].isin([0.0]) | ((stability["degradation"] == "contrast") & (stability["level"] == 1.0))
        ]
        assert np.allclose(clean["rank_corr_original"].dropna(), 1.0)
        for name in (
            "occlusion/panels_correct",
            "occlusion/panels_wrong",
            "lime/topk_correct",
            "lime/topk_wrong",
            *(f"robustness/gradcam_{k}" for k in levels),
        ):
            assert (base / f"{name}.png").stat().st_size > 5000
