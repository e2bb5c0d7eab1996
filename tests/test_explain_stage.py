"""The explain stage's rows (examples, evaluation, per class, confusions) and the cross-method figures."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from posthoc import io  # noqa: E402
from posthoc.stages import explain_summary  # noqa: E402
from posthoc.stages.explain import per_class_image, plan_rows, top_confusions  # noqa: E402

LABELS = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2, 0])
PREDS = np.array([0, 1, 1, 2, 2, 2, 1, 2, 2, 0])
PROBS = np.full((10, 3), 0.1)
PROBS[np.arange(10), PREDS] = 0.8
PROBS[0, 0] = 0.6  # the least sure correct example


def test_top_confusions_most_frequent_first_with_first_image():
    assert top_confusions(LABELS, PREDS, 5) == [(1, 2, 2, 3), (0, 1, 1, 1), (2, 1, 1, 6)]
    assert top_confusions(LABELS, PREDS, 1) == [(1, 2, 2, 3)]
    assert top_confusions(LABELS, LABELS, 3) == []


def test_plan_rows():
    rows = plan_rows(LABELS, PREDS, PROBS, n_eval=4, seed=0, n_confusions=2)
    sub = rows["subset"]
    assert rows["index"][sub == "example"].tolist() == [0, 2, 5]
    assert rows["target"][sub == "example"].tolist() == [0, 1, 2]
    assert (sub == "evaluation").sum() == 4 and (rows["target"][sub == "evaluation"] == -1).all()
    assert rows["index"][sub == "per_class"].tolist() == [0, 0, 0]  # the least sure correct example
    assert rows["target"][sub == "per_class"].tolist() == [0, 1, 2]
    assert rows["index"][sub == "confusion"].tolist() == [3, 3, 1, 1]
    assert rows["target"][sub == "confusion"].tolist() == [1, 2, 0, 1]
    assert per_class_image(np.array([0, 2, 5]), LABELS, PREDS, PROBS) == 0


def _npz(path, layers, rng, plan, one_d=False, gap=None):
    n = len(plan["index"])
    shape = (40,) if one_d else (12, 12)
    x = rng.standard_normal((n, 1 if one_d else 3, *shape)).astype(np.float32)
    target = np.where(plan["target"] >= 0, plan["target"], PREDS[plan["index"]])
    maps = rng.random((n, len(layers), *shape)).astype(np.float32)
    io.save_npz(
        path,
        x=x,
        index=plan["index"],
        label=LABELS[plan["index"]],
        pred=PREDS[plan["index"]],
        target=target,
        prob=PROBS[plan["index"]].astype(np.float32),
        maps=maps,
        layers=np.array(layers),
        subset=plan["subset"],
        **({"completeness_gap": rng.random(n).astype(np.float32)} if gap else {}),
    )


@pytest.mark.parametrize("one_d", [False, True])
def test_summary_figures_and_completeness(tmp_path, one_d):
    rng = np.random.default_rng(0)
    plan = plan_rows(LABELS, PREDS, PROBS, n_eval=4, seed=0, n_confusions=3)
    files = {}
    capped = plan_rows(LABELS, PREDS, PROBS, n_eval=2, seed=0, n_confusions=3)  # a method may cap n_eval
    for method, layers in [
        ("gradcam", ["features.0", "features.3"]),
        ("saliency", ["input"]),
        ("cam", ["features"]),
        ("deconvnet", ["features.0", "features.3"]),
        ("integrated_gradients", ["input"]),
    ]:
        files[method] = tmp_path / f"{method}.npz"
        _npz(
            files[method],
            layers,
            rng,
            capped if method == "saliency" else plan,
            one_d,
            gap=method == "integrated_gradients",
        )
    io.save_npz(tmp_path / "predictions.npz", label=LABELS, pred=PREDS, probs=PROBS)
    io.save_json(tmp_path / "meta.json", {"name": "toy", "class_names": ["a", "b", "c"]})
    io.save_json(tmp_path / "stats.json", {"mean": [0.0] if one_d else [0.5] * 3, "std": [1.0] if one_d else [0.2] * 3})
    out = [tmp_path / f"{n}.png" for n in ("comparison", "per_class", "confusions")]
    explain_summary.figures(files, tmp_path / "predictions.npz", tmp_path / "meta.json", tmp_path / "stats.json", *out)
    assert all(p.stat().st_size > 5000 for p in out)
    table = explain_summary.completeness_table(files["integrated_gradients"], {"steps": 64}, tmp_path / "c.csv")
    assert table["subset"].tolist() == ["example", "evaluation", "per_class", "confusion"]
    assert pd.read_csv(tmp_path / "c.csv")["steps"].eq(64).all()
