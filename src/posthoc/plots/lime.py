"""LIME figure (seed 001 Figs 2.5–2.12): superpixels, their weights, and the top-k superpixels."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from .panels import DIVERGING, FONT, grayscale, new_figure, no_ticks, rgb, wrap


def _dim_outside(img: np.ndarray, keep: np.ndarray) -> np.ndarray:
    img = rgb(img)
    return np.where(keep[..., None], img, 0.15 + 0.15 * img)


def _signal_row(axes, image, segments, weight_map, order, ks, scale):
    pos = np.arange(len(image))
    lo, hi = float(np.min(image)), float(np.max(image))
    im = None
    for j, ax in enumerate(axes):
        ax.plot(pos, image, color="black", lw=1)
        if j == 0:
            for b in np.flatnonzero(np.diff(segments)):
                ax.axvline(b + 0.5, color="goldenrod", lw=0.8)
        elif j == 1:
            im = ax.imshow(
                weight_map[None, :],
                extent=(-0.5, len(image) - 0.5, lo, hi),
                aspect="auto",
                cmap=DIVERGING,
                vmin=-scale,
                vmax=scale,
                alpha=0.8,
            )
        else:
            keep = np.isin(segments, order[: ks[j - 2]])
            ax.fill_between(pos, lo, hi, where=keep, color="tab:green", alpha=0.3, step="mid")
        ax.set_xlim(-0.5, len(image) - 0.5)
        ax.set_yticks([])
        ax.xaxis.set_major_locator(MaxNLocator(3, integer=True))
        ax.tick_params(labelsize=FONT)
    return im


def _image_row(axes, image, segments, weight_map, order, ks, scale):
    from skimage.segmentation import mark_boundaries

    im = None
    for j, ax in enumerate(axes):
        if j == 0:  # borders drawn on an enlarged copy, so that they stay thin on small images
            up = max(1, int(np.ceil(256 / max(segments.shape))))
            big = np.kron(rgb(image), np.ones((up, up, 1)))
            ax.imshow(
                mark_boundaries(big, np.kron(segments, np.ones((up, up), int)), color=(1, 0.85, 0), mode="inner"),
                extent=(-0.5, segments.shape[1] - 0.5, segments.shape[0] - 0.5, -0.5),
            )
        elif j == 1:
            ax.imshow(grayscale(rgb(image)), cmap="gray", vmin=0, vmax=1)
            im = ax.imshow(weight_map, cmap=DIVERGING, vmin=-scale, vmax=scale, alpha=0.65)
        else:
            ax.imshow(_dim_outside(image, np.isin(segments, order[: ks[j - 2]])))
        no_ticks(ax)
    return im


def lime_topk(rows: Sequence[Mapping], ks: Sequence[int], title: str) -> Figure:
    """One row per mapping, labelled above the row: the input with its superpixels, the LIME weights
    painted on the superpixels (diverging, centred at 0, ± the row's max |weight|), then the top-k
    superpixels for every k (the others dimmed).

    A mapping holds ``image`` ((H, W, C) in [0, 1] or a signal (L,)), ``segments`` (labels of the same
    spatial shape), ``coef`` (one LIME weight per superpixel) and ``label`` (e.g. the example and the
    hyper-parameter setting).
    """
    if not rows:
        raise ValueError("lime_topk needs at least one row")
    one_d = np.ndim(rows[0]["image"]) == 1
    ncols = 2 + len(ks)
    fig = new_figure((min(11.0, 2.0 * ncols + 1.0), (1.75 if one_d else 2.45) * len(rows) + 0.6))
    subfigs = np.atleast_1d(fig.subfigures(len(rows), 1))
    for i, (sub, r) in enumerate(zip(subfigs, rows)):
        axes = np.atleast_1d(sub.subplots(1, ncols))
        image, segments = np.asarray(r["image"]), np.asarray(r["segments"])
        coef = np.asarray(r["coef"], dtype=float)
        order = np.argsort(-coef, kind="stable")
        scale = np.abs(coef).max(initial=0.0) or 1.0
        draw = _signal_row if one_d else _image_row
        im = draw(axes, image, segments, coef[segments], order, ks, scale)
        sub.suptitle(wrap(str(r["label"]).replace("\n", "; "), 130), fontsize=FONT, x=0.01, ha="left")
        if i == 0:
            for j, ax in enumerate(axes):
                ax.set_title(
                    ["input and superpixels", "superpixel weights"][j] if j < 2 else f"top {ks[j - 2]} superpixels",
                    fontsize=FONT,
                )
        cbar = sub.colorbar(im, ax=axes[1], shrink=0.85, pad=0.02)
        cbar.set_label("LIME weight", fontsize=FONT)
        cbar.ax.tick_params(labelsize=FONT)
    fig.suptitle(title, fontsize=10)
    return fig
