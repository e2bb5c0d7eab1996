"""Correct vs misclassified for the most frequent confusions (seed 004 Fig 19)."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from .panels import (
    FONT,
    band_grid,
    blank,
    class_name,
    map_colorbars,
    mark_void,
    new_figure,
    overlay,
    scale_maps,
    sparse_x_ticks,
    wrap,
)


def _probability_bars(ax, probs: np.ndarray, t: int, p: int, class_names: Sequence[str]) -> None:
    """Class probabilities of the misclassified image, the true and the predicted class named inside
    the plot (left of the bar's end when it is long, so no label runs into the frame)."""
    colours = ["#1b9e77" if c == t else "#d95f02" if c == p else "lightgray" for c in range(len(probs))]
    ax.barh(np.arange(len(probs)), probs, color=colours)
    ax.set_xlim(0, 1)
    ax.set_ylim(len(probs) - 0.5, -0.5)
    ax.set_yticks([])
    ax.set_xticks([0, 0.5, 1])
    ax.tick_params(axis="x", labelsize=FONT)
    for c, tag in ((t, "true"), (p, "pred.")):
        v = float(min(probs[c], 1.0))
        inside = v > 0.5
        ax.text(
            v - 0.03 if inside else v + 0.03,
            c,
            f"{tag}: {wrap(class_name(class_names, c), 12)}",
            ha="right" if inside else "left",
            va="center",
            fontsize=FONT,
            clip_on=True,
        )


def _nothing_to_show(message: str, title: str) -> Figure:
    """A small figure that says why there are no blocks (the figure is still an output of its rule)."""
    fig = new_figure((6, 1.5))
    fig.text(0.5, 0.5, message, ha="center", va="center")
    fig.suptitle(title)
    return fig


def _block_grid(k: int, n_methods: int, one_d: bool, flags, blocks_per_band: int | None):
    """Bands of three-column blocks (two abreast, one for signals): a row of inputs and one row per method
    per band; returns (fig, axes (band, row, column), colour-bar axes, blocks per band)."""
    per_band = blocks_per_band or (1 if one_d else 2)
    fig, axes, caxes = band_grid(
        math.ceil(k / per_band),
        n_methods + 1,
        3 * min(k, per_band),
        *((2.0, 1.1) if one_d else (1.2, 1.2)),
        gap_h=0.32 if one_d else 0.1,
        band_gap=0.6,
        top=1.1,
        block=3,
        block_gap=0.35,
        head_gap=0.55,
        cbar=len(set(flags.tolist())),
    )
    return fig, axes, caxes, per_band


def _finish_blocks(fig, axes, caxes, methods: Sequence[str], size, flags, title: str) -> Figure:
    """Row labels (input; each method with its scale divisor), unused axes off, colour bars, title."""
    for band_axes in axes:
        for r in range(len(methods) + 1):
            label = "input" if r == 0 else f"{methods[r - 1]}\n(÷ {size[r - 1, 0]:.2g})"
            band_axes[r, 0].set_ylabel(wrap(label, 22), fontsize=FONT)
        for ax in band_axes.ravel():
            if not ax.has_data() and not ax.texts and ax.get_visible() and not ax.get_ylabel():
                ax.set_axis_off()
    map_colorbars(fig, flags, "row", cax=caxes)
    fig.suptitle(title, y=1 - 0.3 / fig.get_figheight(), fontsize=10)
    return fig


def confusion_maps(
    correct_inputs,
    wrong_inputs,
    maps,
    methods: Sequence[str],
    confusions: Sequence[Mapping],
    class_names: Sequence[str],
    title: str,
    *,
    signed,
    blocks_per_band: int | None = None,
) -> Figure:
    """Per confusion (true t → predicted p) a block of three columns: a correctly classified image of
    t with its map for t; the misclassified image with its map for t; and its map for p. The block's
    top row shows the two inputs and the misclassified image's class probabilities; one row per
    method below. Blocks sit two abreast (one for signals) and wrap into bands below each other.

    ``correct_inputs`` / ``wrong_inputs``: display arrays (K, ...), a correct input may be ``None``;
    ``maps``: (n_methods, K, 3, *spatial); ``signed``: a bool or one flag per method (signed maps on a
    diverging scale centred at 0). The maps of one method share one scale (its row across the figure);
    ``confusions``: dicts with ``true``, ``pred``, ``count``, ``p_correct`` and ``probs``.
    """
    maps = np.asarray(maps)
    k, n_methods = len(confusions), len(methods)
    if k == 0:
        return _nothing_to_show("No misclassified test images: no confusion to show.", title)
    one_d = maps.ndim == 4
    flags = np.broadcast_to(np.asarray(signed, dtype=bool).reshape(-1), (n_methods,))
    # one row per method, its 3·K maps as columns: the divisor is shared by everything the method shows
    shown, void, size = scale_maps(maps.reshape(n_methods, 3 * k, *maps.shape[3:]), flags[:, None], "row")
    shown, void = shown.reshape(maps.shape), void.reshape(n_methods, k, 3)
    fig, axes, caxes, per_band = _block_grid(k, n_methods, one_d, flags, blocks_per_band)
    for b, conf in enumerate(confusions):
        band, col0 = divmod(b, per_band)
        grid = axes[band][:, 3 * col0 : 3 * col0 + 3]
        t, p = int(conf["true"]), int(conf["pred"])
        tn, pn = class_name(class_names, t), class_name(class_names, p)
        ax_c, ax_w, ax_p = grid[0]
        if correct_inputs[b] is None:
            blank(ax_c)
            ax_c.text(0.5, 0.5, wrap(f"no correctly classified {tn}", 14), ha="center", va="center", fontsize=FONT)
        else:
            overlay(ax_c, correct_inputs[b], None, one_d=one_d)
            ax_c.set_title(wrap(f"correct {tn}\np={conf['p_correct']:.2f}", 16), fontsize=FONT)
        overlay(ax_w, wrong_inputs[b], None, one_d=one_d)
        ax_w.set_title(wrap(f"{tn} → {pn}\n({conf['count']}× in test)", 16), fontsize=FONT)
        for ax in (ax_c, ax_w):
            if one_d and ax.has_data():
                sparse_x_ticks(ax, last_row=False)
        _probability_bars(ax_p, np.asarray(conf["probs"], dtype=float), t, p, class_names)
        ax_p.set_title("class probabilities", fontsize=FONT)
        for r in range(n_methods):
            for c, (image, cls) in enumerate(((correct_inputs[b], tn), (wrong_inputs[b], tn), (wrong_inputs[b], pn))):
                ax = grid[r + 1, c]
                if image is None:
                    blank(ax)
                    continue
                overlay(ax, image, shown[r, b, c], bool(flags[r]), one_d)
                if void[r, b, c]:
                    mark_void(ax, "void")
                if one_d:
                    sparse_x_ticks(ax, last_row=r == n_methods - 1)
                if r == 0:
                    ax.set_title(wrap(f"map for {cls}", 16), fontsize=FONT)
    return _finish_blocks(fig, axes, caxes, methods, size, flags, title)


#: the three test images of a label in :func:`label_error_maps`, in column order
OUTCOMES = {"tp": "true positive", "fn": "false negative", "fp": "false positive"}


def label_error_maps(
    inputs,
    maps,
    methods: Sequence[str],
    errors: Sequence[Mapping],
    class_names: Sequence[str],
    title: str,
    *,
    signed,
    blocks_per_band: int | None = None,
) -> Figure:
    """The multi-label counterpart of :func:`confusion_maps`: labels are not confused with each other, each is
    decided on its own. Per label (the most often wrong ones) a block of three columns, a true positive, a false
    negative and a false positive test image of that label (:data:`OUTCOMES`), each with every method's map
    for that label (one row per method below the inputs): does the evidence differ where the model is wrong?

    ``inputs``: per label three display arrays or ``None`` (the test split has no such image); ``maps``:
    (n_methods, K, 3, *spatial) (ignored where the input is ``None``); ``errors``: dicts with ``label``,
    ``count`` (false positives + false negatives in the test split), ``index`` and ``p`` (per column the test
    index and the label's probability). The maps of one method share one scale.
    """
    maps = np.asarray(maps)
    k, n_methods = len(errors), len(methods)
    if k == 0:
        return _nothing_to_show("No label decided wrongly on the test set: nothing to show.", title)
    one_d = maps.ndim == 4
    flags = np.broadcast_to(np.asarray(signed, dtype=bool).reshape(-1), (n_methods,))
    present = np.array([[image is not None for image in row] for row in inputs])  # (K, 3)
    flat = np.where(present.reshape(1, k, 3, *[1] * (maps.ndim - 3)), maps, 0.0)  # absent cases: no scale
    shown, void, size = scale_maps(flat.reshape(n_methods, 3 * k, *maps.shape[3:]), flags[:, None], "row")
    shown, void = shown.reshape(maps.shape), void.reshape(n_methods, k, 3)
    fig, axes, caxes, per_band = _block_grid(k, n_methods, one_d, flags, blocks_per_band)
    for b, err in enumerate(errors):
        band, col0 = divmod(b, per_band)
        grid = axes[band][:, 3 * col0 : 3 * col0 + 3]
        name = class_name(class_names, int(err["label"]))
        first = next(c for c, image in enumerate(inputs[b]) if image is not None)  # carries the error count
        for c, outcome in enumerate(OUTCOMES.values()):
            image, head = inputs[b][c], grid[0, c]
            if image is None:
                for ax in grid[:, c]:
                    blank(ax)
                head.text(0.5, 0.5, wrap(f"no {outcome} of {name}", 14), ha="center", va="center", fontsize=FONT)
                continue
            overlay(head, image, None, one_d=one_d)
            head.set_title(
                wrap(f"{name}: {outcome}\n#{err['index'][c]}, p={err['p'][c]:.2f}", 16)
                + (f"\n({err['count']} wrong in test)" if c == first else ""),
                fontsize=FONT,
            )
            for r in range(n_methods):
                ax = grid[r + 1, c]
                overlay(ax, image, shown[r, b, c], bool(flags[r]), one_d)
                if void[r, b, c]:
                    mark_void(ax, "void")
                if one_d:
                    sparse_x_ticks(ax, last_row=r == n_methods - 1)
            if one_d:
                sparse_x_ticks(head, last_row=False)
    return _finish_blocks(fig, axes, caxes, methods, size, flags, title)
