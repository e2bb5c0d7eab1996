"""Map figures: per-method grids, cross-method grids, confusions and reconstructions — honest scales
(diverging centred at 0 for signed maps, the scale stated), void panels labelled, wide grids wrapped."""

import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from test_plots import _colorbars, _panel_axes, _render, assert_readable  # noqa: E402

from posthoc.plots.confusions import confusion_maps, label_error_maps  # noqa: E402
from posthoc.plots.maps import layer_maps, map_grid  # noqa: E402
from posthoc.plots.reconstructions import reconstructions  # noqa: E402


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _texts(ax):
    return [t.get_text() for t in ax.texts]


def _map_panels(fig):
    return [ax for ax in _panel_axes(fig) if len(ax.images) == 2]


def test_layer_maps_grid_labels_sequential_colourbar_and_void(rng, tmp_path):
    n, layers = 3, 4
    maps = rng.random((n, layers, 5, 5))
    maps[1, 2] = 0.0
    cols = ["input"] + [f"features.{i}" for i in range(layers)]
    fig = layer_maps(rng.random((n, 20, 20, 3)), maps, ["a", "b", "c"], cols, "Grad-CAM", signed=False)
    panels = _panel_axes(fig)
    assert len(panels) == n * (layers + 1)
    assert [ax.get_title() for ax in panels[: layers + 1]] == cols
    assert [panels[i * (layers + 1)].get_ylabel() for i in range(n)] == ["a", "b", "c"]
    (cbar,) = _colorbars(fig)
    assert cbar.cmap.name == "viridis" and (cbar.norm.vmin, cbar.norm.vmax) == (0.0, 1.0)
    assert "own scale" in cbar.ax.get_ylabel()
    shown = np.asarray(panels[1].images[1].get_array())
    assert shown.max() == pytest.approx(1.0) and shown.min() >= 0.0
    void_panel = panels[1 * (layers + 1) + 3]
    assert any(t.startswith("void") for t in _texts(void_panel))
    assert sum(any(t.startswith("void") for t in _texts(ax)) for ax in panels) == 1
    assert fig._suptitle.get_text() == "Grad-CAM"
    assert_readable(fig, tmp_path)


def test_layer_maps_signed_diverging_centred_at_zero(rng):
    maps = rng.standard_normal((2, 2, 10, 10))
    fig = layer_maps(rng.random((2, 10, 10, 3)), maps, ["a", "b"], ["input", "l1", "l2"], "signed", signed=True)
    (cbar,) = _colorbars(fig)
    assert cbar.cmap.name == "RdBu_r" and cbar.norm.vmin == -cbar.norm.vmax == -1.0
    shown = np.asarray(_map_panels(fig)[0].images[1].get_array())
    assert np.abs(shown).max() == pytest.approx(1.0) and shown.min() < 0
    np.testing.assert_allclose(shown, maps[0, 0] / np.abs(maps[0, 0]).max())


def test_layer_maps_without_overlay_and_coarse_map(rng):
    fig = layer_maps(
        rng.random((1, 8, 8, 1)),
        rng.random((1, 1, 4, 4)),
        ["only"],
        ["input", "conv"],
        "one",
        signed=False,
        overlay=False,
    )
    panels = _panel_axes(fig)
    assert len(panels) == 2
    assert panels[1].images[-1].get_extent() == pytest.approx(panels[0].images[0].get_extent())


def test_layer_maps_1d_heat_strip_and_void(rng, tmp_path):
    n, layers, length = 3, 5, 40
    signals = rng.random((n, length)).astype(np.float32)
    maps = rng.random((n, layers, length))
    maps[0, 2] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = layer_maps(
            signals, maps, ["0", "1", "2"], ["input"] + [f"conv{i}" for i in range(layers)], "1-D", signed=False
        )
        _render(fig)
    panels = [ax for ax in _panel_axes(fig) if ax.axison]
    # 5 layers wrap into two bands of at most 4 maps, each band repeats the input column
    assert len(panels) == n * (layers + 2)
    strips = [ax for ax in panels if ax.images]
    assert len(strips) == n * layers
    for ax in strips:
        assert np.asarray(ax.images[0].get_array()).shape == (1, length) and len(ax.lines) == 1
    assert sum(any(t.startswith("void") for t in _texts(ax)) for ax in panels) == 1
    assert_readable(fig, tmp_path)


def test_map_grid_mixed_signed_columns_two_colourbars_and_stated_scale(rng, tmp_path):
    n, k = 3, 9
    flags = np.array([False] * 7 + [True] * 2)
    maps = rng.random((n, k, 12, 12))
    maps[:, flags] -= 0.5
    cols = ["input"] + [f"method {j}" for j in range(k)]
    fig = map_grid(
        rng.random((n, 12, 12, 3)), maps, ["a", "b", "c"], cols, "comparison", signed=flags[None], scale="column"
    )
    bars = _colorbars(fig)
    assert sorted(b.cmap.name for b in bars) == ["RdBu_r", "viridis"]
    assert all("column" in b.ax.get_ylabel() for b in bars)
    diverging = next(b for b in bars if b.cmap.name == "RdBu_r")
    assert diverging.norm.vmin == -diverging.norm.vmax
    map_panels = _map_panels(fig)
    assert len(map_panels) == n * k
    titles = [ax.get_title() for ax in _panel_axes(fig) if ax.get_title()]
    assert sum(t.startswith("input") for t in titles) == 2  # two bands of at most five maps
    assert all("÷" in t for t in titles if t.startswith("method"))
    assert_readable(fig, tmp_path)


def test_map_grid_per_class_signed_row_is_void_not_stretched(rng, tmp_path):
    """An occlusion row whose map for one class is -0.0005..0 stays (nearly) white and says void."""
    maps = rng.random((2, 3, 8, 8))
    maps[1] = rng.random((3, 8, 8)) * 0.3
    maps[1, 1] = -0.0005 * rng.random((8, 8))
    fig = map_grid(
        np.repeat(rng.random((1, 8, 8, 3)), 2, 0),
        maps,
        ["gradcam", "occlusion"],
        ["input", "c0", "c1", "c2"],
        "per class",
        signed=[[False], [True]],
        scale="row",
    )
    occlusion_row = _panel_axes(fig)[4:8]
    assert "÷" in occlusion_row[0].get_ylabel()
    shown = np.asarray(occlusion_row[2].images[1].get_array())
    assert np.abs(shown).max() < 0.01
    assert any(t.startswith("void") for t in _texts(occlusion_row[2]))
    assert occlusion_row[2].images[1].get_cmap().name == "RdBu_r"
    assert_readable(fig, tmp_path)


def test_map_grid_rejects_mismatched_labels(rng):
    with pytest.raises(ValueError, match="column labels"):
        map_grid(rng.random((1, 8, 8)), rng.random((1, 2, 8, 8)), ["a"], ["input", "l1"], "t", signed=False)


def _confusions(k, n_classes):
    return [
        {
            "true": t,
            "pred": (t + 1) % n_classes,
            "count": 5 - t,
            "p_correct": 0.9,
            "probs": np.eye(n_classes)[(t + 1) % n_classes] * 0.97 + 0.01,
        }
        for t in range(k)
    ]


@pytest.mark.parametrize("one_d", [False, True])
def test_confusion_maps_blocks_wrap_labels_inside_and_void(rng, tmp_path, one_d):
    k, methods = 3, ["gradcam", "saliency", "occlusion"]
    shape = (40,) if one_d else (12, 12, 3)
    inputs = [rng.random(shape) for _ in range(k)]
    maps = rng.random((3, k, 3) + shape[: 1 if one_d else 2])
    maps[2] -= 0.5
    maps[0, 1, 2] = 0.0
    fig = confusion_maps(
        [inputs[0], None, inputs[2]],
        inputs,
        maps,
        methods,
        _confusions(k, 4),
        ["a", "b", "c", "d"],
        "confusions",
        signed=[False, False, True],
    )
    shown = [ax for ax in _panel_axes(fig) if ax.axison]
    ylabels = [ax.get_ylabel().split("\n")[0] for ax in shown if ax.get_ylabel()]
    bands = 3 if one_d else 2
    assert ylabels.count("gradcam") == bands and ylabels.count("input") == bands
    bars = [ax for ax in shown if ax.patches]
    assert len(bars) == k
    for ax in bars:  # the true/predicted class labels stay inside the plot, left of a long bar
        for t in ax.texts:
            x, _ = t.get_position()
            assert 0 <= x <= 1
            if x > 0.5:
                assert t.get_horizontalalignment() == "right"
        assert not ax.get_yticklabels() or not any(lab.get_text() for lab in ax.get_yticklabels())
    assert sum(any(t == "void" for t in ax.get_children() and _texts(ax)) for ax in shown) >= 1
    assert sorted(b.cmap.name for b in _colorbars(fig)) == ["RdBu_r", "viridis"]
    image = assert_readable(fig, tmp_path)
    assert image.width <= 1100


def test_confusion_maps_without_confusions_says_so(rng):
    fig = confusion_maps([], [], np.zeros((2, 0, 3, 8, 8)), ["a", "b"], [], ["x", "y"], "none", signed=False)
    assert any("No misclassified" in t.get_text() for t in fig.texts)


@pytest.mark.parametrize("one_d", [False, True])
def test_label_error_maps_one_block_per_label_and_missing_cases_named(rng, tmp_path, one_d):
    methods = ["gradcam", "occlusion"]
    shape = (40,) if one_d else (12, 12)
    case = [rng.random(shape) for _ in range(3)]
    inputs = [case, [None, case[1], None]]  # label 2 has no true positive and no false positive
    maps = rng.random((2, 2, 3) + shape)
    maps[0, 1, 0] = 1e6  # an absent case's map must not set its method's scale
    errors = [
        {"label": 0, "count": 5, "index": [3, 7, 9], "p": [0.9, 0.2, 0.6]},
        {"label": 2, "count": 4, "index": [None, 1, None], "p": [np.nan, 0.1, np.nan]},
    ]
    fig = label_error_maps(inputs, maps, methods, errors, ["a", "b", "c"], "errors", signed=[False, True])
    texts = [t for ax in _panel_axes(fig) for t in _texts(ax)]
    assert "no true positive of c" in [t.replace("\n", " ") for t in texts]
    assert "no false positive of c" in [t.replace("\n", " ") for t in texts]
    titles = [ax.get_title().replace("\n", " ") for ax in _panel_axes(fig) if ax.get_title()]
    assert any("a: true positive" in t and "5 wrong" in t for t in titles)
    assert any("c: false negative" in t and "4 wrong" in t and "p=0.10" in t for t in titles)
    ylabels = [ax.get_ylabel() for ax in _panel_axes(fig) if ax.get_ylabel()]
    divisors = [float(label.split("÷ ")[1].rstrip(")")) for label in ylabels if label.startswith("gradcam")]
    assert divisors and max(divisors) <= 1  # the scale ignores the absent case's 1e6
    assert len(_map_panels(fig)) == (0 if one_d else 2 * 4)  # images: a map over an input, per shown case
    assert_readable(fig, tmp_path)


def test_label_error_maps_without_errors_says_so():
    fig = label_error_maps([], np.zeros((1, 0, 3, 8, 8)), ["a"], [], ["x"], "none", signed=False)
    assert any("No label decided wrongly" in t.get_text() for t in fig.texts)


@pytest.mark.parametrize("one_d", [False, True])
def test_reconstructions_void_panel_and_footer_below_axes(rng, tmp_path, one_d):
    n, layers = 3, 4
    inputs = rng.random((n, 40)) if one_d else rng.random((n, 12, 12, 3))
    recons = rng.standard_normal((n, layers, 1, 40) if one_d else (n, layers, 3, 12, 12))
    recons[1, 2] = 0.0
    fig = reconstructions(inputs, recons, ["a", "b", "c"], ["input"] + [f"l{i}" for i in range(layers)], "deconvnet")
    shown = [ax for ax in _panel_axes(fig) if ax.axison]
    bands = 2 if one_d else 1
    assert len(shown) == n * (layers + bands)
    assert sum(any(t.startswith("void") for t in _texts(ax)) for ax in shown) == 1
    _render(fig)
    renderer = fig.canvas.get_renderer()
    (footer,) = [t for t in fig.texts if "rescaled" in t.get_text()]
    top_of_footer = footer.get_window_extent(renderer).y1
    assert all(top_of_footer < ax.get_tightbbox(renderer).y0 for ax in shown)  # no overlap with axis labels
    if not one_d:
        img = np.asarray(shown[1].images[0].get_array())
        assert img.min() == pytest.approx(0.0) and img.max() == pytest.approx(1.0)
    assert_readable(fig, tmp_path)
