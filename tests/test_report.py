"""The HTML report: self-contained, complete, generic over stage folders, and written atomically."""

import re
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from posthoc import io  # noqa: E402
from posthoc.plots import eda, evaluation, maps as map_figures, training  # noqa: E402
from posthoc.report import builder  # noqa: E402
from posthoc.report.captions import load_captions  # noqa: E402
from posthoc.report import build_report  # noqa: E402
from posthoc.explain.registry import declared  # noqa: E402

METHODS_DECLARED = declared()

CLASSES = ["adipose", "background", "debris"]
CONFIG = {
    "datasets": {
        "pathmnist": {"data": {"kind": "medmnist", "size": 28}, "model": {"arch": "alexnet128"}},
        "mnist1d": {"data": {"kind": "mnist1d"}, "model": {"arch": "cnn1d"}},
    },
    "faithfulness": {"fill": 0.0, "batch_size": 256},
}
VERSIONS = {"python": "3.11.9", "torch": "2.14.1", "numpy": "2.4.6", "snakemake": "9.1.0"}


def _dataset(root, name, rng, one_d=False):
    d = root / name
    io.save_json(
        d / "data" / "meta.json",
        {
            "name": name,
            "kind": "medmnist",
            "shape": [28, 28, 3],
            "class_names": CLASSES,
            "n_samples": {"train": 30, "val": 6, "test": 9},
        },
    )
    io.save_npy(d / "data" / "train_images.npy", np.zeros((2, 2), np.uint8))  # must not be embedded
    io.save_figure(
        eda.class_distribution({"train": np.array([10, 12, 8])}, CLASSES), d / "eda" / "class_distribution.png"
    )
    io.save_json(
        d / "eda" / "stats.json",
        {
            "mean": [0.74, 0.53, 0.70],
            "std": [0.12, 0.17, 0.13],
            "class_counts": {"train": [10, 12, 8], "test": [3, 3, 3]},
        },
    )
    hist = pd.DataFrame(
        {
            "epoch": [1, 2],
            "train_loss": [1.23456789, 0.5],
            "train_acc": [0.5, 0.75],
            "val_loss": [1.3, 0.6],
            "val_acc": [0.4, 0.7],
        }
    )
    io.save_figure(training.training_curves(hist), d / "model" / "training_curves.png")
    io.save_csv(d / "model" / "history.csv", hist)
    io.save_json(
        d / "model" / "scores.json",
        {
            "train": {"accuracy": 0.98765, "loss": 0.05},
            "val": {"accuracy": 0.9, "loss": 0.3},
            "test": {"accuracy": 0.87654321 if not one_d else 0.5, "loss": 0.4},
        },
    )
    (d / "model" / "model.pt").write_bytes(b"not a figure")
    io.save_figure(evaluation.confusion_matrix(np.eye(3), CLASSES), d / "evaluation" / "confusion.png")
    io.save_csv(
        d / "evaluation" / "per_class.csv",
        pd.DataFrame({"class": CLASSES, "n": [3, 3, 3], "accuracy": [1.0, 2 / 3, np.nan]}),
    )
    maps = rng.random((3, 2, 8, 8))
    io.save_figure(
        map_figures.layer_maps(
            rng.random((3, 8, 8, 3)), maps, CLASSES, ["input", "l1", "l2"], "Grad-CAM", signed=False
        ),
        d / "explanations" / "gradcam.png",
    )
    io.save_npz(d / "explanations" / "gradcam.npz", maps=maps)
    io.save_csv(
        d / "faithfulness" / "gradcam.csv",
        pd.DataFrame(
            {
                "method": "gradcam",
                "layer": ["features.0", "features.3"],
                "keep_percent": 30,
                "drop_rate": [0.123456, 0.5],
                "increase_rate": [0.25, 0.1],
                "n": 9,
            }
        ),
    )
    (d / "faithfulness" / ".gradcam.abc.partial.png").write_bytes(b"half written")  # skipped
    return d


@pytest.fixture(scope="module")
def _results_template(tmp_path_factory):
    """Drawing the figures is the slow part: build the fake results tree once per module."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("template") / "results"
    _dataset(root, "pathmnist", rng)
    d = _dataset(root, "mnist1d", rng, one_d=True)
    # a future stage nobody told the builder about
    io.save_csv(d / "robustness" / "noise.csv", pd.DataFrame({"sigma": [0.1, 0.2], "accuracy": [0.8, 0.6]}))
    bench = root / "benchmarks" / "pathmnist" / "train.tsv"
    bench.parent.mkdir(parents=True)
    bench.write_text(
        "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
        "72.5\t0:01:12\t812.25\t900\t700\t710\t0\t1\t95\t70.1\n"
    )
    return root


@pytest.fixture
def results(_results_template, tmp_path):
    """A private copy per test (some tests add files)."""
    return Path(shutil.copytree(_results_template, tmp_path / "results"))


def _build(results, tmp_path, **kw):
    out = tmp_path / "report" / "report.html"
    build_report(results, CONFIG, out, versions=kw.pop("versions", VERSIONS), **kw)
    return out, out.read_text(encoding="utf-8")


def test_report_embeds_every_png_and_nothing_external(results, tmp_path):
    out, html = _build(results, tmp_path)
    n_png = len([p for p in results.rglob("*.png") if not p.name.startswith(".")])
    assert n_png == 8
    assert html.count("data:image/webp;base64,") == n_png  # re-encoded (config report.image_format)
    imgs = re.findall(r"<img [^>]*>", html)
    assert len(imgs) == n_png
    for img in imgs:
        assert 'loading="lazy"' in img and re.search(r'width="\d+" height="\d+"', img)
        alt = re.search(r'alt="([^"]*)"', img).group(1)
        all_captions = [c for entry in load_captions().values() for c in entry["captions"].values()]
        assert alt and not any(alt in c or c in alt for c in all_captions)
    srcs = re.findall(r'src="([^"]*)"', html)
    assert srcs and all(s.startswith("data:image/webp;base64,") for s in srcs)
    assert not re.search(r'<link\b|<script\b[^>]*\bsrc=|href="(?!#)', html)  # no external CSS/JS/links
    assert "half written" not in html and ".partial" not in html
    assert "gradcam.npz" not in html and "model.pt" not in html and "train_images" not in html
    assert not list(out.parent.glob(".*"))  # no temporary file left behind


def test_report_tables_values_and_captions(results, tmp_path):
    _, html = _build(results, tmp_path)
    # scores.json: rows = splits, 4 significant digits
    assert "0.8765" in html and "0.87654321" not in html
    assert re.search(r'<th scope="col">accuracy</th>\s*<th scope="col">loss</th>', html)
    # history.csv, per_class.csv, faithfulness csv rendered with formatted floats; NaN as a dash
    assert "1.235" in html and "0.1235" in html and "0.6667" in html
    assert "<td>adipose</td>" in html and "–" in html
    # stats.json as a key/value table
    assert "[0.74, 0.53, 0.7]" in html and "train: [10, 12, 8]" in html
    # captions from the dict, faithfulness "*" and one derived from the file name
    assert "A batch of training samples" not in html  # no sample_batch file here
    assert METHODS_DECLARED["gradcam"].caption.split(";")[0] in html
    assert "Drop rate (lower is better) and increase rate (higher is better)" in html
    assert "Loss and accuracy per epoch" in html
    assert "Noise." in html  # robustness/noise.csv -> derived caption
    # summary: test accuracy and number of classes per dataset
    summary = html.split('id="summary"')[1].split("</table>")[0]
    assert "pathmnist" in summary and "mnist1d" in summary and "0.8765" in summary and "0.5" in summary
    assert re.search(r'<td class="num">3</td>', summary)
    # runtimes appendix from the benchmark TSVs, and their summary in the header
    appendix = html.split('id="benchmarks"')[1]
    assert "<td>train</td>" in appendix and "<td>pathmnist</td>" in appendix and "1:12" in appendix
    assert "812.2" in appendix and "70.1" in appendix
    assert "slowest: train on pathmnist (1:12)" in html


def test_report_order_toc_config_versions_and_fill(results, tmp_path):
    _, html = _build(results, tmp_path)
    # datasets in config order, stages canonical first then extra ones
    assert html.index('id="ds-pathmnist"') < html.index('id="ds-mnist1d"')
    section = html[html.index('id="ds-mnist1d"') :]
    positions = [
        section.index(f'id="ds-mnist1d-{s}"')
        for s in ("eda", "model", "evaluation", "explanations", "faithfulness", "robustness")
    ]
    assert positions == sorted(positions)
    assert 'id="ds-mnist1d-data"' not in html
    for anchor in re.findall(r'href="#([^"]+)"', html):
        assert f'id="{anchor}"' in html
    # config as YAML, versions, time, fill value note
    assert "<pre>datasets:\n  pathmnist:\n    data:\n      kind: medmnist" in html
    assert "<td>snakemake</td>" in html and "9.1.0" in html
    assert re.search(r"generated \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC", html)
    assert "0 in normalised input space, i.e. the dataset mean" in html


def test_report_default_versions(results, tmp_path):
    _, html = _build(results, tmp_path, versions=None)
    for pkg in ("python", "numpy", "torch", "matplotlib"):
        assert f"<td>{pkg}</td>" in html


def test_long_tables_are_truncated(results, tmp_path):
    n = builder.MAX_TABLE_ROWS + 15
    io.save_csv(
        results / "pathmnist" / "evaluation" / "predictions.csv",
        pd.DataFrame({"index": np.arange(n), "p": np.linspace(0, 1, n)}),
    )
    _, html = _build(results, tmp_path)
    assert f"Showing the first {builder.MAX_TABLE_ROWS} of {n} rows" in html
    assert f'<td class="num">{builder.MAX_TABLE_ROWS - 1}</td>' in html
    assert f'<td class="num">{n - 1}</td>' not in html


def test_missing_dataset_folder_raises(results, tmp_path):
    config = {**CONFIG, "datasets": {**CONFIG["datasets"], "dermamnist": {}}}
    out = tmp_path / "report.html"
    with pytest.raises(FileNotFoundError, match="dermamnist"):
        build_report(results, config, out, versions=VERSIONS)
    assert not out.exists()


def test_failed_render_leaves_no_output(results, tmp_path, monkeypatch):
    real = builder._render_chunks

    def failing(context):
        chunks = real(context)
        yield next(chunks)  # something is written before the failure
        raise RuntimeError("render failed midway")

    monkeypatch.setattr(builder, "_render_chunks", failing)
    out = tmp_path / "report" / "report.html"
    with pytest.raises(RuntimeError, match="midway"):
        build_report(results, CONFIG, out, versions=VERSIONS)
    assert not out.exists()
    assert not list(out.parent.iterdir())  # temporary file removed too


def test_json_table_shapes():
    two = builder.json_table({"train": {"accuracy": 0.9, "loss": 0.1}, "test": {"accuracy": 0.8}})
    assert two["header"] == ["", "accuracy", "loss"]
    assert two["rows"] == [["train", "0.9", "0.1"], ["test", "0.8", "–"]]
    flat = builder.json_table({"a": 1, "b": 0.123456})
    assert flat["rows"] == [["a", "1"], ["b", "0.1235"]]
    assert builder.json_table([1, 2, 3]) is None


def test_caption_lookup():
    assert builder.caption_for("eda", "sample_batch").startswith("A batch of training samples")
    assert builder.caption_for("faithfulness", "gradcam").startswith("Drop rate")
    assert builder.caption_for("evaluation", "roc_auc").startswith("One-vs-rest area")
    assert builder.caption_for("evaluation", "roc").startswith("One-vs-rest ROC curves")
    assert builder.caption_for("robustness", "noise_sweep") == "Noise sweep"


def test_format_value():
    assert builder.format_value(0.123456) == "0.1235"
    assert builder.format_value(12345.678) == "12346"
    assert builder.format_value(3.0) == "3"
    assert builder.format_value(float("nan")) == "–"
    assert builder.format_value(np.float32(0.5)) == "0.5"
    assert builder.format_value(np.int64(7)) == "7"
