"""Figures: the right panels, labels and data; robust to void maps and odd shapes."""
import warnings

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from posthoc import plots  # noqa: E402

CLASSES = ["adipose", "background", "colorectal adenocarcinoma epithelium"]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _images(rng, n, h=16, w=16, c=3):
    return rng.integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


def _panel_axes(fig):
    """Axes that are panels (not colourbars)."""
    cbar_axes = {cb.ax for cb in _colorbars(fig)}
    return [ax for ax in fig.axes if ax not in cbar_axes]


def _colorbars(fig):
    return [ax._colorbar for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


def _render(fig):
    fig.canvas.draw()  # layout + draw must not raise


# --------------------------------------------------------------------------------- sample grids
@pytest.mark.parametrize("c", [1, 3])
def test_sample_grid_titles_are_class_names(rng, c):
    images = _images(rng, 40, c=c)
    labels = rng.integers(0, 3, size=(40, 1))
    fig = plots.sample_grid(images, labels, CLASSES, n=32)
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert len(axes) == 32
    for ax, label in zip(axes, labels[:32, 0]):
        assert ax.get_title().replace("\n", " ") == CLASSES[label]
        assert len(ax.images) == 1
    assert fig._suptitle is not None and fig._suptitle.get_text()
    _render(fig)


def test_sample_grid_fewer_samples_than_n_and_signals(rng):
    signals = rng.standard_normal((5, 40)).astype(np.float32)
    fig = plots.sample_grid(signals, np.array([0, 1, 2, 0, 1]), CLASSES, n=32)
    assert len(fig.axes) == 5
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), signals[0])
    _render(fig)


def test_one_per_class_skips_absent_classes(rng):
    images = _images(rng, 6, c=1)
    labels = np.array([2, 0, 2, 0, 0, 2])  # class 1 absent
    fig = plots.one_per_class(images, labels, CLASSES)
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes]
    assert titles == [CLASSES[0], CLASSES[2]]
    # the first sample of class 0 is index 1; grayscale drawn as 2-D
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), images[1, ..., 0])
    _render(fig)


def test_one_per_class_signals(rng):
    signals = rng.standard_normal((6, 30)).astype(np.float32)
    fig = plots.one_per_class(signals, np.array([0, 1, 2, 0, 1, 2]), CLASSES)
    assert len(fig.axes) == 3 and all(len(ax.lines) == 1 for ax in fig.axes)


# --------------------------------------------------------------------------------- distribution
def test_class_distribution_bar_labels_equal_counts():
    counts = {"train": np.array([120, 7, 4693]), "val": np.array([12, 1, 400]), "test": np.array([30, 0, 900])}
    fig = plots.class_distribution(counts, CLASSES, title="PathMNIST")
    (ax,) = fig.axes
    assert ax.get_title() == "PathMNIST"
    assert ax.get_xlabel() and ax.get_ylabel()
    assert len(ax.containers) == 3
    for container, split in zip(ax.containers, counts):
        heights = [bar.get_height() for bar in container]
        np.testing.assert_array_equal(heights, counts[split])
    label_texts = [t.get_text() for t in ax.texts]
    expected = [str(v) for split in counts for v in counts[split]]
    assert label_texts == expected
    assert [t.get_text() for t in ax.get_legend().get_texts()] == list(counts)
    ticks = [t.get_text().replace("\n", " ") for t in ax.get_xticklabels()]
    assert ticks == CLASSES
    assert any(t.get_rotation() != 0 for t in ax.get_xticklabels())  # long names are rotated
    _render(fig)


def test_class_distribution_rejects_wrong_length():
    with pytest.raises(ValueError, match="expected 3"):
        plots.class_distribution({"train": np.array([1, 2])}, CLASSES)


# ------------------------------------------------------------------------------ training / eval
def test_training_curves_two_panels_with_legends():
    hist = pd.DataFrame({"epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.3], "train_acc": [0.5, 0.7, 0.9],
                         "val_loss": [1.1, 0.7, 0.6], "val_acc": [0.4, 0.6, 0.8]})
    fig = plots.training_curves(hist)
    assert len(fig.axes) == 2
    loss, acc = fig.axes
    assert loss.get_ylabel() == "loss" and acc.get_ylabel() == "accuracy"
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    assert [t.get_text() for t in loss.get_legend().get_texts()] == ["train", "validation"]
    np.testing.assert_allclose(acc.lines[1].get_ydata(), hist["val_acc"])
    _render(fig)


def test_confusion_matrix_values_and_colourbar():
    cm = np.array([[0.8, 0.2, 0.0], [0.1, 0.9, 0.0], [np.nan, np.nan, np.nan]])
    fig = plots.confusion_matrix(cm, CLASSES)
    assert len(_colorbars(fig)) == 1
    (ax,) = _panel_axes(fig)
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["0.80", "0.20", "0.00"] and texts[-1] == "n/a"
    assert len(texts) == 9
    assert [t.get_text().replace("\n", " ") for t in ax.get_yticklabels()] == CLASSES
    assert np.isfinite(ax.images[0].get_array()).all()
    _render(fig)


def test_roc_curves_legend_has_auc_and_diagonal():
    fpr = {0: np.array([0, 0.1, 1.0]), 1: np.array([0, 0.5, 1.0]), 2: np.array([0.0, 1.0])}
    tpr = {0: np.array([0, 0.9, 1.0]), 1: np.array([0, 0.5, 1.0]), 2: np.array([0.0, 1.0])}
    auc = {0: 0.95, 1: 0.5, 2: float("nan")}
    fig = plots.roc_curves(fpr, tpr, auc, CLASSES)
    (ax,) = fig.axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "adipose (AUC = 0.950)"
    assert legend[2].endswith("(AUC = n/a)")
    assert "chance" in legend
    assert len(ax.lines) == 4
    assert ax.get_xlabel() == "false positive rate" and ax.get_ylabel() == "true positive rate"
    _render(fig)


# ---------------------------------------------------------------------------------- layer maps
def _image_panels(fig):
    return [ax for ax in _panel_axes(fig) if ax.images]


def test_layer_maps_2d_grid_shape_labels_and_colourbar(rng):
    n, layers = 3, 5
    inputs = rng.random((n, 20, 20, 3))
    maps = rng.random((n, layers, 20, 20))
    cols = ["input"] + [f"features.{i}" for i in range(layers)]
    fig = plots.layer_maps(inputs, maps, ["a", "b", "c"], cols, "Grad-CAM")
    panels = _panel_axes(fig)
    assert len(panels) == n * (layers + 1)
    assert len(_image_panels(fig)) == n * (layers + 1)
    assert [ax.get_title() for ax in panels[: layers + 1]] == cols
    assert [panels[i * (layers + 1)].get_ylabel() for i in range(n)] == ["a", "b", "c"]
    (cbar,) = _colorbars(fig)
    assert "relative importance" in cbar.ax.get_ylabel()
    assert fig._suptitle.get_text() == "Grad-CAM"
    # overlay: map panels show the grayscale input plus the normalised map on top
    map_panel = panels[1]
    assert len(map_panel.images) == 2
    shown = np.asarray(map_panel.images[1].get_array())
    assert shown.max() == pytest.approx(1.0) and shown.min() >= 0.0
    _render(fig)


def test_layer_maps_void_maps_are_finite_without_warnings(rng):
    inputs = rng.random((2, 12, 12))
    maps = np.zeros((2, 3, 12, 12))
    maps[1, 1] = np.nan  # non-finite values also count as "no evidence"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plots.layer_maps(inputs, maps, ["x", "y"], ["input", "l1", "l2", "l3"], "void")
        _render(fig)
    for ax in _image_panels(fig):
        for im in ax.images:
            assert np.isfinite(np.asarray(im.get_array(), dtype=float)).all()


def test_layer_maps_single_example_single_layer_without_overlay(rng):
    fig = plots.layer_maps(rng.random((1, 8, 8, 1)), rng.random((1, 1, 4, 4)), ["only"], ["input", "conv"],
                           "one", overlay=False)
    panels = _panel_axes(fig)
    assert len(panels) == 2
    assert len(panels[1].images) == 1  # map alone
    # a coarser map is stretched over the input's extent
    assert panels[1].images[0].get_extent() == pytest.approx(panels[0].images[0].get_extent())
    _render(fig)


def test_layer_maps_symmetric_uses_diverging_centred_colormap(rng):
    maps = rng.standard_normal((2, 2, 10, 10))
    fig = plots.layer_maps(rng.random((2, 10, 10, 3)), maps, ["a", "b"], ["input", "l1", "l2"], "signed",
                           symmetric=True)
    (cbar,) = _colorbars(fig)
    assert cbar.norm.vmin == -1.0 and cbar.norm.vmax == 1.0
    assert cbar.cmap.name == "RdBu_r"
    shown = np.asarray(_panel_axes(fig)[1].images[1].get_array())
    assert np.abs(shown).max() == pytest.approx(1.0)
    assert shown.min() < 0


def test_layer_maps_1d_signal_with_heat_strip(rng):
    n, layers, length = 3, 5, 40
    signals = rng.random((n, length)).astype(np.float32)
    maps = rng.random((n, layers, length))
    maps[0, 2] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plots.layer_maps(signals, maps, ["0", "1", "2"], ["input"] + [f"conv{i}" for i in range(layers)],
                               "1-D")
        _render(fig)
    panels = _panel_axes(fig)
    assert len(panels) == n * (layers + 1)
    for i in range(n):
        row = panels[i * (layers + 1):(i + 1) * (layers + 1)]
        assert not row[0].images and len(row[0].lines) == 1
        for ax in row[1:]:
            assert len(ax.images) == 1 and len(ax.lines) == 1
            np.testing.assert_allclose(ax.lines[0].get_ydata(), signals[i])
            strip = np.asarray(ax.images[0].get_array(), dtype=float)
            assert strip.shape == (1, length) and np.isfinite(strip).all()
    assert np.all(np.asarray(panels[3].images[0].get_array()) == 0)  # void map stays zero
    assert len(_colorbars(fig)) == 1


def test_layer_maps_rejects_mismatched_labels(rng):
    with pytest.raises(ValueError, match="col_labels"):
        plots.layer_maps(rng.random((1, 8, 8)), rng.random((1, 2, 8, 8)), ["a"], ["input", "l1"], "t")


def test_normalise_for_display():
    np.testing.assert_allclose(plots.normalise_for_display(np.array([0.0, 1.0, 2.0])), [0, 0.5, 1])
    np.testing.assert_allclose(plots.normalise_for_display(np.array([-1.0, 1.0])), [0, 1])
    np.testing.assert_allclose(plots.normalise_for_display(np.array([-2.0, 1.0]), symmetric=True), [-1, 0.5])
    assert not plots.normalise_for_display(np.zeros(4)).any()


# --------------------------------------------------------------------------------- faithfulness
def _faith_df(keeps=(30,)):
    rows = []
    for keep in keeps:
        for m in ("gradcam", "deconvnet"):
            for j, layer in enumerate(("features.0", "features.3", "features.6")):
                rows.append({"method": m, "layer": layer, "keep_percent": keep, "drop_rate": 0.1 * (j + 1),
                             "increase_rate": 0.05 * j, "n": 50})
    return pd.DataFrame(rows)


def test_faithfulness_bars_panels_titles_and_short_labels():
    df = _faith_df()
    fig = plots.faithfulness_bars(df)
    drop, inc = fig.axes
    assert "lower is better" in drop.get_title() and "keep top 30 %" in drop.get_title()
    assert "higher is better" in inc.get_title() and "keep top 30 %" in inc.get_title()
    assert [t.get_text() for t in drop.get_xticklabels()] == ["gradcam", "deconvnet"]
    assert len(drop.patches) == 6
    heights = sorted(p.get_height() for p in drop.patches)
    np.testing.assert_allclose(heights, sorted(df["drop_rate"]))
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["L1 = features.0", "L2 = features.3", "L3 = features.6"]
    _render(fig)


def test_faithfulness_bars_one_row_per_keep_percent():
    fig = plots.faithfulness_bars(_faith_df(keeps=(10, 50)))
    assert len(fig.axes) == 4
    assert "keep top 50 %" in fig.axes[2].get_title()
