"""Faithfulness, occlusion, LIME and robustness figures: panels, labels that do not collide, small
multiples that stay readable, axes that run the way the images do."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from test_plots import _colorbars, _panel_axes, _render, assert_readable  # noqa: E402

from posthoc.plots.faithfulness import faithfulness_bars  # noqa: E402
from posthoc.plots.lime import lime_topk  # noqa: E402
from posthoc.plots.occlusion import occlusion_panels  # noqa: E402
from posthoc.plots.robustness import robustness_levels  # noqa: E402

METHODS = [
    "gradcam",
    "saliency",
    "guided_backprop",
    "guided_gradcam",
    "deconvnet",
    "cam",
    "integrated_gradients",
    "occlusion",
    "lime",
]
LAYERED = ("gradcam", "guided_gradcam", "deconvnet")
LAYERS = ("features.0", "features.3", "features.6", "features.8")


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def _faith_df(rng, keeps=(30,)):
    return pd.DataFrame(
        [
            {
                "method": m,
                "layer": layer if m in LAYERED else np.nan,
                "keep_percent": keep,
                "drop_rate": rng.random(),
                "increase_rate": rng.random(),
                "n": 100,
            }
            for keep in keeps
            for m in METHODS
            for layer in (LAYERS if m in LAYERED else (None,))
        ]
    )


def _no_overlap(boxes_a, boxes_b):
    return all(a.x1 <= b.x0 or b.x1 <= a.x0 or a.y1 <= b.y0 or b.y1 <= a.y0 for a in boxes_a for b in boxes_b)


def test_faithfulness_small_multiples_one_panel_per_method(rng, tmp_path):
    df = _faith_df(rng)
    fig = faithfulness_bars(df)
    panels = [ax for ax in fig.axes if ax.axison]
    assert [ax.get_title().split(",")[0] for ax in panels] == METHODS
    for ax, m in zip(panels, METHODS):
        sub = df[df["method"] == m]
        heights = [p.get_height() for p in ax.patches]
        np.testing.assert_allclose(heights, list(sub["drop_rate"]) + list(sub["increase_rate"]))
        ticks = [t.get_text() for t in ax.get_xticklabels()]
        assert ticks == (list(LAYERS) if m in LAYERED else ["input"])
        assert ax.get_ylim() == pytest.approx((0, 1.25))  # one shared scale of rates
        assert "n=100" in ax.get_title()
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["drop rate (lower is better)", "increase rate (higher is better)"]
    image = assert_readable(fig, tmp_path)
    assert image.width <= 1200 and image.height <= 2400  # 6,513 px wide before


def test_faithfulness_one_panel_per_method_and_keep(rng):
    fig = faithfulness_bars(_faith_df(rng, keeps=(10, 50)))
    titles = [ax.get_title() for ax in fig.axes if ax.axison]
    assert len(titles) == 2 * len(METHODS) and "top 50 %" in titles[-1]


def test_faithfulness_rejects_missing_columns():
    with pytest.raises(ValueError, match="missing columns"):
        faithfulness_bars(pd.DataFrame({"method": ["a"]}))


def _occlusion_rows(rng, one_d, n=2):
    rows = []
    for k in range(n):
        label = f"window 10, stride 3 (example {k})\ntrue a, predicted b\nthird line of the label"
        if one_d:
            rows.append(
                {
                    "image": rng.random(40),
                    "occluded": rng.random(40),
                    "window_box": (5, 10),
                    "centres": [np.arange(2, 40, 3)],
                    "activation": rng.random(13),
                    "probability": rng.random(13),
                    "predicted": rng.integers(0, 10, 13),
                    "projection": rng.standard_normal(40),
                    "label": label,
                }
            )
        else:
            rows.append(
                {
                    "image": rng.random((28, 28, 3)),
                    "occluded": rng.random((28, 28, 3)),
                    "window_box": (4, 4, 8, 8),
                    "centres": [np.arange(2, 28, 4)] * 2,
                    "activation": rng.random((7, 7)),
                    "probability": rng.random((7, 7)),
                    "predicted": rng.integers(0, 3, (7, 7)),
                    "projection": None,
                    "label": label,
                }
            )
    return rows


@pytest.mark.parametrize("one_d", [False, True])
def test_occlusion_panels_rows_heads_and_row_labels_clear_of_panels(rng, tmp_path, one_d):
    names = [f"class {i}" for i in range(10 if one_d else 3)]
    rows = _occlusion_rows(rng, one_d)
    fig = occlusion_panels(rows, names, "occlusion")
    heads = 5 if one_d else 4  # the projection column only when a row has one
    panels = [ax for ax in _panel_axes(fig) if ax.axison]
    assert len(panels) == len(rows) * heads
    assert panels[0].get_title() == "occluded input"
    if not one_d:
        assert len(_colorbars(fig)) == len(rows) * 3
        assert panels[2].collections[0].norm.vmin == 0 and panels[2].collections[0].norm.vmax == 1
    _render(fig)
    renderer = fig.canvas.get_renderer()
    for sub, row in zip(fig.subfigs, rows):
        label = sub._suptitle
        assert "third line" in label.get_text()
        box = label.get_window_extent(renderer)
        assert box.x0 >= 0 and box.x1 <= fig.bbox.width  # not cut off
        assert _no_overlap([box], [ax.get_tightbbox(renderer) for ax in sub.axes])
    assert_readable(fig, tmp_path)


@pytest.mark.parametrize("one_d", [False, True])
def test_lime_topk_columns_weights_centred_and_labels_clear(rng, tmp_path, one_d):
    ks = [1, 3, 5]
    if one_d:
        rows = [
            {
                "image": rng.random(40),
                "segments": np.arange(40) // 4,
                "coef": rng.standard_normal(10),
                "label": f"#{k}: true 3, predicted 3 (p=0.93)\nsegment_length 4; R² 0.41",
            }
            for k in range(4)
        ]
    else:
        seg = (np.arange(28)[:, None] // 7) * 4 + np.arange(28)[None] // 7
        rows = [
            {
                "image": rng.random((28, 28, 3)),
                "segments": seg,
                "coef": rng.standard_normal(16),
                "label": f"#{k}: true adipose, predicted adipose (p=0.93)\nkernel 2, ratio 0.5; R² 0.41",
            }
            for k in range(3)
        ]
    fig = lime_topk(rows, ks, "lime")
    panels = _panel_axes(fig)
    assert len(panels) == len(rows) * (2 + len(ks))
    assert [ax.get_title() for ax in panels[:5]] == [
        "input and superpixels",
        "superpixel weights",
        "top 1 superpixels",
        "top 3 superpixels",
        "top 5 superpixels",
    ]
    bars = _colorbars(fig)
    assert len(bars) == len(rows)
    for bar, row in zip(bars, rows):
        assert bar.norm.vmin == pytest.approx(-np.abs(row["coef"]).max())
        assert bar.norm.vmax == pytest.approx(np.abs(row["coef"]).max())
        assert bar.cmap.name == "RdBu_r" and bar.ax.get_ylabel() == "LIME weight"
    _render(fig)
    renderer = fig.canvas.get_renderer()
    boxes = [sub._suptitle.get_window_extent(renderer) for sub in fig.subfigs]
    assert all(b.x0 >= 0 and b.x1 <= fig.bbox.width for b in boxes)
    axes_boxes = [ax.get_tightbbox(renderer) for ax in fig.axes]
    assert _no_overlap(boxes, axes_boxes)
    assert_readable(fig, tmp_path)


def test_lime_topk_needs_rows():
    with pytest.raises(ValueError, match="at least one row"):
        lime_topk([], [1], "t")


def _summary(levels):
    n = len(levels)
    return pd.DataFrame(
        {
            "level": levels,
            "accuracy": np.linspace(0.9, 0.3, n),
            "mean_confidence": np.linspace(0.9, 0.5, n),
            "mean_p_original": np.linspace(0.9, 0.2, n),
            "rank_corr_top": np.linspace(1, 0.3, n),
            "rank_corr_original": np.linspace(1, 0.5, n),
        }
    )


@pytest.mark.parametrize("one_d", [False, True])
@pytest.mark.parametrize("levels", [[0.0, 0.1, 0.2], [1.0, 0.5, 0.15]])
def test_robustness_levels_axis_runs_like_the_strip(rng, tmp_path, one_d, levels):
    shape = (40,) if one_d else (16, 16)
    inputs = rng.random((3,) + shape) if one_d else rng.random((3, 16, 16, 3))
    maps_top = rng.random((3,) + shape) * np.array([1.0, 0.5, 0.1]).reshape(3, *([1] * len(shape)))
    maps_top[2] = 0.0
    fig = robustness_levels(
        "contrast",
        levels,
        inputs,
        maps_top,
        rng.random((3,) + shape),
        ["t"] * 3,
        ["o"] * 3,
        _summary(levels),
        "robustness",
        signed=False,
    )
    strip = [ax for ax in _panel_axes(fig) if ax.get_title().startswith("contrast =")]
    assert [ax.get_title() for ax in strip] == [f"contrast = {v:g}" for v in levels]
    curves = [ax for ax in _panel_axes(fig) if ax.get_xlabel().startswith("contrast level")]
    assert len(curves) == 2
    for ax in curves:  # left to right: the order of the strip above
        x = ax.lines[0].get_xdata()
        left, right = ax.get_xlim()
        assert (x[0] - left) * (right - left) < (x[-1] - left) * (right - left)
        assert ax.xaxis_inverted() == (levels[0] > levels[-1])
    top_row = [ax for ax in _panel_axes(fig) if ax.get_title() == "t"]
    if not one_d:  # one shared scale per row: the second map is half as bright as the first
        first, second = (np.asarray(ax.images[1].get_array()) for ax in top_row[:2])
        assert second.max() / first.max() == pytest.approx(maps_top[1].max() / maps_top[0].max())
        assert second.max() < 0.6
    assert any(t.get_text() == "void" for t in top_row[2].texts)
    (bar,) = _colorbars(fig)
    assert "row" in bar.ax.get_ylabel()
    assert_readable(fig, tmp_path)
