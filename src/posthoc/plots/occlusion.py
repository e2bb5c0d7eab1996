"""Occlusion sweep figure (seed 000 Figs 14–23): one row per (example, window, stride)."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .panels import FONT, class_colours, draw_input, grayscale, new_figure, no_ticks, rgb, wrap


def _signal_panel(ax, key, r, m, cmap, norm, clabel, class_names) -> None:
    c = np.asarray(r["centres"][0])
    if key == "predicted":
        ax.scatter(c, m, c=m, cmap=cmap, norm=norm, s=12)
        ax.set_yticks(np.arange(len(class_names)))
        ax.set_yticklabels([wrap(n, 12) for n in class_names], fontsize=FONT)
        ax.set_ylim(-0.5, len(class_names) - 0.5)
    else:
        ax.plot(c, m, marker=".", color=plt.get_cmap(cmap)(0.6), lw=1)
        ax.set_ylabel(clabel, fontsize=FONT)
        if key == "probability":
            ax.set_ylim(-0.02, 1.02)
    ax.set_xlim(-0.5, len(r["occluded"]) - 0.5)
    ax.set_xlabel("window centre", fontsize=FONT)
    ax.tick_params(labelsize=FONT)


def _image_panel(fig, ax, key, r, m, cmap, norm, clabel, class_names) -> None:
    cy, cx = (np.asarray(c) for c in r["centres"])
    draw_input(ax, grayscale(rgb(r.get("image", r["occluded"]))), alpha=0.35)  # values at window centres
    mesh = ax.pcolormesh(cx, cy, m, shading="nearest", cmap=cmap, norm=norm, alpha=0.85)
    ax.set_xlim(-0.5, len(r["occluded"][0]) - 0.5)
    ax.set_ylim(len(r["occluded"]) - 0.5, -0.5)
    ax.set_aspect("equal")
    no_ticks(ax)
    cbar = fig.colorbar(mesh, ax=ax, shrink=0.85, pad=0.02)
    cbar.ax.tick_params(labelsize=FONT)
    if key == "predicted":
        present = np.unique(m).astype(int)
        cbar.set_ticks(present)
        cbar.set_ticklabels([wrap(class_names[k], 12) for k in present], fontsize=FONT)
    else:
        cbar.set_label(clabel, fontsize=FONT)


def occlusion_panels(rows: Sequence[Mapping], class_names: Sequence[str], title: str) -> Figure:
    """One row per mapping, labelled above the row, five panels per row, each with a colour bar.

    A row holds ``image`` (the input: (H, W, C) in [0, 1] or (L,)), ``occluded`` (the same with one
    window hidden), ``window_box`` ((top, left, height, width) or (start, length)), ``centres`` (per
    spatial dim, the window centres), ``activation``, ``probability`` and ``predicted`` (grid maps,
    shape = number of windows per dim), ``channel``, ``label`` (row label) and optionally
    ``projection`` (DeconvNet projection of the channel, input-shaped; the panel is left out when no
    row has one). Panels: occluded input · activation of the most responsive last-conv channel ·
    [projection] · true-class probability · predicted class.
    """
    if not rows:
        raise ValueError("occlusion_panels needs at least one row")
    with_projection = any(r.get("projection") is not None for r in rows)
    heads = ["occluded input", "activation of the most\nresponsive last-conv channel"]
    heads += ["DeconvNet projection\nof that channel"] if with_projection else []
    heads += ["true-class probability\nwith the window hidden", "predicted class\nwith the window hidden"]
    one_d = np.ndim(rows[0]["occluded"]) == 1
    cmap_cls, norm_cls = class_colours(len(class_names))
    fig = new_figure((min(11.0, 2.25 * len(heads) + 0.4), (2.2 if one_d else 2.6) * len(rows) + 0.6))
    subfigs = np.atleast_1d(fig.subfigures(len(rows), 1))
    for i, (sub, r) in enumerate(zip(subfigs, rows)):
        cols = list(np.atleast_1d(sub.subplots(1, len(heads))))
        sub.suptitle(wrap(r["label"].replace("\n", "; "), 140), fontsize=FONT, x=0.01, ha="left")
        ax = cols.pop(0)
        if one_d:
            sig = np.asarray(r["occluded"])
            ax.plot(np.arange(len(sig)), sig, color="black", lw=1)
            start, length = r["window_box"]
            ax.axvspan(start - 0.5, start + length - 0.5, color="tab:orange", alpha=0.3, label="hidden")
            ax.set_xlabel("position", fontsize=FONT)
            ax.legend(fontsize=FONT, loc="upper right")
            ax.tick_params(labelsize=FONT)
        else:
            draw_input(ax, r["occluded"])
            top, left, h, w = r["window_box"]
            ax.add_patch(Rectangle((left - 0.5, top - 0.5), w, h, fill=False, edgecolor="tab:orange", lw=1.5))
        panels = [("activation", r["activation"], "viridis", None, "summed activation")]
        if with_projection:
            panels.append(("projection", r.get("projection"), None, None, ""))
        panels += [
            ("probability", r["probability"], "magma", Normalize(0, 1), "p(true class)"),
            ("predicted", r["predicted"], cmap_cls, norm_cls, "class"),
        ]
        for ax, (key, m, cmap, norm, clabel) in zip(cols, panels):
            if key == "projection":
                if m is None:
                    ax.set_axis_off()
                elif one_d:
                    ax.plot(np.arange(len(m)), m, color="tab:purple", lw=1)
                    ax.axhline(0, color="gray", lw=0.5)
                    ax.set_ylabel("projection (scaled)", fontsize=FONT)
                    ax.tick_params(labelsize=FONT)
                    ax.set_xlabel("position", fontsize=FONT)
                else:
                    draw_input(ax, np.asarray(m))
            elif one_d:
                _signal_panel(ax, key, r, np.asarray(m), cmap, norm, clabel, class_names)
            else:
                _image_panel(sub, ax, key, r, np.asarray(m), cmap, norm, clabel, class_names)
        if i == 0:
            for ax, head in zip(sub.axes, heads):
                ax.set_title(head, fontsize=FONT)
    fig.suptitle(title, fontsize=10)
    return fig
