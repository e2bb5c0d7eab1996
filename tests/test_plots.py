"""Figures: the right panels, labels and data; honest map display (sequential from 0 or diverging
centred at 0, stated scale, void panels labelled); readable at the report's display width; light PNGs."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.text import Text  # noqa: E402
from PIL import Image  # noqa: E402

from posthoc import io  # noqa: E402
from posthoc.plots import eda, evaluation, panels, training  # noqa: E402

CLASSES = ["adipose", "background", "colorectal adenocarcinoma epithelium"]
#: the report shows figures at most this wide (px); text must stay >= 8 pt there
DISPLAY_PX = 1100


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _images(rng, n, h=16, w=16, c=3):
    return rng.integers(0, 256, size=(n, h, w, c), dtype=np.uint8)


def _colorbars(fig):
    return [ax._colorbar for ax in fig.axes if getattr(ax, "_colorbar", None) is not None]


def _panel_axes(fig):
    """Axes that are panels (not colourbars)."""
    cbar_axes = {cb.ax for cb in _colorbars(fig)}
    return [ax for ax in fig.axes if ax not in cbar_axes]


def _render(fig):
    fig.canvas.draw()  # layout + draw must not raise


def assert_readable(fig, tmp_path, name="figure.png"):
    """Saved as an opaque PNG no wider than 2,400 px whose smallest text is >= 8 pt when the
    figure is shown at most DISPLAY_PX wide. Returns the saved image."""
    _render(fig)
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    path = tmp_path / name
    io.save_figure(fig, path)
    image = Image.open(path)
    assert image.mode in ("RGB", "P"), image.mode
    assert image.width <= 2400
    shown = min(sizes) * min(1.0, DISPLAY_PX / image.width)
    assert shown >= 7.9, f"smallest text {min(sizes)} pt is {shown:.1f} pt at {DISPLAY_PX} px ({image.width} px wide)"
    return image


def test_save_figure_is_opaque_light_and_faithful(tmp_path, rng):
    from posthoc.plots.maps import layer_maps

    yy, xx = np.mgrid[0:32, 0:32]
    maps = np.exp(-((yy - 16) ** 2 + (xx - 10) ** 2) / 60.0)[None, None].repeat(2, 0)
    fig = layer_maps(rng.random((2, 32, 32, 3)), maps, ["a", "b"], ["input", "conv"], "smooth", signed=False)
    fig.savefig(tmp_path / "reference.png", dpi=100, bbox_inches="tight", facecolor="white")
    io.save_figure(fig, tmp_path / "light.png")
    reference = np.asarray(Image.open(tmp_path / "reference.png").convert("RGB"), dtype=float)
    light = Image.open(tmp_path / "light.png")
    assert light.mode in ("RGB", "P") and "transparency" not in light.info
    assert light.size == reference.shape[1::-1]
    assert np.abs(np.asarray(light.convert("RGB"), dtype=float) - reference).mean() <= io.PALETTE_TOLERANCE
    assert (tmp_path / "light.png").stat().st_size < (tmp_path / "reference.png").stat().st_size
    assert not plt.fignum_exists(fig.number)  # closed


def test_save_figure_keeps_rgb_when_a_palette_would_change_colours(tmp_path, rng):
    fig = plt.figure(figsize=(4, 4))
    fig.figimage(rng.random((300, 300, 3)))  # far more than 256 colours
    io.save_figure(fig, tmp_path / "noise.png")
    assert Image.open(tmp_path / "noise.png").mode == "RGB"


# --------------------------------------------------------------------------------- sample grids
@pytest.mark.parametrize("c", [1, 3])
def test_sample_grid_titles_are_class_names(rng, c):
    images = _images(rng, 40, c=c)
    labels = rng.integers(0, 3, size=(40, 1))
    fig = eda.sample_grid(images, labels, CLASSES, n=32)
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
    fig = eda.sample_grid(signals, np.array([0, 1, 2, 0, 1]), CLASSES, n=32)
    assert len(fig.axes) == 5
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), signals[0])
    _render(fig)


def test_one_per_class_skips_absent_classes(rng):
    images = _images(rng, 6, c=1)
    labels = np.array([2, 0, 2, 0, 0, 2])  # class 1 absent
    fig = eda.one_per_class(images, labels, CLASSES)
    titles = [ax.get_title().replace("\n", " ") for ax in fig.axes]
    assert titles == [CLASSES[0], CLASSES[2]]
    # the first sample of class 0 is index 1; grayscale drawn as 2-D
    np.testing.assert_allclose(fig.axes[0].images[0].get_array(), images[1, ..., 0] / 255.0)
    _render(fig)


def test_one_per_class_signals(rng):
    signals = rng.standard_normal((6, 30)).astype(np.float32)
    fig = eda.one_per_class(signals, np.array([0, 1, 2, 0, 1, 2]), CLASSES)
    assert len(fig.axes) == 3 and all(len(ax.lines) == 1 for ax in fig.axes)


# --------------------------------------------------------------------------------- distribution
def test_class_distribution_bar_labels_equal_counts():
    counts = {"train": np.array([120, 7, 4693]), "val": np.array([12, 1, 400]), "test": np.array([30, 0, 900])}
    fig = eda.class_distribution(counts, CLASSES, title="PathMNIST")
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
        eda.class_distribution({"train": np.array([1, 2])}, CLASSES)


# ------------------------------------------------------------------------------ training / eval
def test_training_curves_two_panels_with_legends():
    hist = pd.DataFrame(
        {
            "epoch": [1, 2, 3],
            "train_loss": [1.0, 0.5, 0.3],
            "train_acc": [0.5, 0.7, 0.9],
            "val_loss": [1.1, 0.7, 0.6],
            "val_acc": [0.4, 0.6, 0.8],
        }
    )
    fig = training.training_curves(hist)
    assert len(fig.axes) == 2
    loss, acc = fig.axes
    assert loss.get_ylabel() == "loss" and acc.get_ylabel() == "accuracy"
    assert all(ax.get_xlabel() == "epoch" for ax in fig.axes)
    assert [t.get_text() for t in loss.get_legend().get_texts()] == ["train", "validation"]
    np.testing.assert_allclose(acc.lines[1].get_ydata(), hist["val_acc"])
    _render(fig)


def test_confusion_matrix_values_and_colourbar():
    cm = np.array([[0.8, 0.2, 0.0], [0.1, 0.9, 0.0], [np.nan, np.nan, np.nan]])
    fig = evaluation.confusion_matrix(cm, CLASSES)
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
    fig = evaluation.roc_curves(fpr, tpr, auc, CLASSES)
    (ax,) = fig.axes
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend[0] == "adipose (AUC = 0.950)"
    assert legend[2].endswith("(AUC = n/a)")
    assert "chance" in legend
    assert len(ax.lines) == 4
    assert ax.get_xlabel() == "false positive rate" and ax.get_ylabel() == "true positive rate"
    _render(fig)


def test_core_figures_are_readable_at_display_size(tmp_path, rng):
    names = [f"class {i} with a long name" for i in range(9)]
    counts = {s: rng.integers(0, 900, 9) for s in ("train", "val", "test")}
    hist = pd.DataFrame(
        {
            "epoch": [1, 2],
            "train_loss": [1.0, 0.5],
            "train_acc": [0.5, 0.7],
            "val_loss": [1.1, 0.7],
            "val_acc": [0.4, 0.6],
        }
    )
    cm = rng.random((9, 9))
    roc = {c: np.linspace(0, 1, 5) for c in range(9)}
    figures = {
        "sample_grid": eda.sample_grid(_images(rng, 40), rng.integers(0, 9, 40), names),
        "sample_grid_1d": eda.sample_grid(rng.standard_normal((32, 40)), rng.integers(0, 9, 32), names),
        "one_per_class": eda.one_per_class(_images(rng, 18), np.arange(18) % 9, names),
        "class_distribution": eda.class_distribution(counts, names),
        "training_curves": training.training_curves(hist),
        "confusion": evaluation.confusion_matrix(cm / cm.sum(1, keepdims=True), names),
        "roc": evaluation.roc_curves(roc, roc, {c: 0.5 for c in range(9)}, names),
        "message": panels.message_figure("Nothing to show.", "title"),
    }
    for name, fig in figures.items():
        assert_readable(fig, tmp_path, f"{name}.png")


def test_scale_maps_signed_unsigned_shared_and_void():
    maps = np.zeros((2, 3, 4))
    maps[0, 0] = [0, 1, 2, 4]
    maps[0, 1] = [0, 0.5, 1, 2]
    maps[0, 2] = [-0.0005, -0.0001, 0, 0]  # no positive value: void
    maps[1, 0] = [-2, 1, 0, 0]
    shown, void, size = panels.scale_maps(maps, False, "panel")
    np.testing.assert_allclose(shown[0, 0], [0, 0.25, 0.5, 1])
    np.testing.assert_allclose(shown[0, 1], [0, 0.25, 0.5, 1])
    assert (shown >= 0).all()  # unsigned: negative values are not stretched into the scale
    np.testing.assert_array_equal(void, [[False, False, True], [False, True, True]])
    shown, void, size = panels.scale_maps(maps, True, "row")
    np.testing.assert_allclose(size[0], [4, 4, 4])
    np.testing.assert_allclose(shown[0, 1], [0, 0.125, 0.25, 0.5])  # shared row scale: half the first map
    assert np.abs(shown[0, 2]).max() < 1e-3  # a -0.0005..0 map stays ~0, not stretched to the full scale
    np.testing.assert_allclose(shown[1, 0], [-1, 0.5, 0, 0])  # signed: centred at 0
    shown, _, size = panels.scale_maps(maps, np.array([[True], [False]]), "column")
    np.testing.assert_allclose(size[:, 0], [4, 4])
    with pytest.raises(ValueError, match="scale"):
        panels.scale_maps(maps, False, "figure")
