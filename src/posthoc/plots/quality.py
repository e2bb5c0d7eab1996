"""Figures of the map-quality stage: deletion/insertion curves, sanity checks, localisation, best/worst cases.

Only drawing happens here; the numbers come from ``posthoc.metrics`` (intervals included).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from ..metrics.deletion import position_ranks
from ..metrics.intervals import bootstrap_ci
from ..preprocess import to_display

CURVE_TITLES = {
    "deletion": "deletion (MoRF) — lower is better",
    "deletion_lerf": "deletion (LeRF) — higher is better",
    "insertion": "insertion (MoRF) — higher is better",
}


def _figure(w: float, h: float) -> Figure:
    return Figure(figsize=(min(w, 24.0), h), dpi=100)


def _tight(fig: Figure) -> None:
    """tight_layout that leaves room for the suptitle (about 0.45 inch)."""
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.45 / fig.get_figheight()))


def _message(text: str, title: str) -> Figure:
    fig = _figure(6, 2)
    ax = fig.add_subplot()
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=10, wrap=True)
    fig.suptitle(title, fontsize=11)
    return fig


def deletion_curves(per: dict, boot: dict) -> Figure:
    """Mean target probability vs share of positions removed/inserted, last layer of each method, 95 % bands."""
    fig = _figure(15, 4.4)
    axes = fig.subplots(1, 3, sharey=True)
    for ax, curve in zip(axes, CURVE_TITLES):
        for method, d in sorted(per.items()):
            fr, c = d["curve_fractions"], d[f"curve_{curve}"][:, -1]  # (n, S)
            est, low, high = bootstrap_ci(c.T, **boot)
            (line,) = ax.plot(fr * 100, est, marker="o", ms=3, label=method)
            ax.fill_between(fr * 100, low, high, color=line.get_color(), alpha=0.15)
        ax.set_title(CURVE_TITLES[curve], fontsize=10)
        ax.set_xlabel("positions removed / inserted (%)")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("target-class probability (mean, 95 % CI)")
    axes[-1].legend(fontsize=8, loc="best")
    fig.suptitle("Deletion and insertion curves (last layer of each method)", fontsize=11)
    _tight(fig)
    return fig


def sanity_curves(sanity: pd.DataFrame) -> Figure:
    """Median Spearman ρ with the original maps as layers are randomised, with 95 % intervals."""
    fig = _figure(14, 4.6)
    axes = fig.subplots(1, 2, sharey=True)
    for ax, test in zip(axes, ("cascading", "independent")):
        part = sanity[sanity["test"] == test]
        for method, rows in part.groupby("method", sort=True):
            last = rows[rows["layer"] == rows["layer"].iloc[-1]]
            x = np.arange(len(last))
            err = np.vstack([last["spearman"] - last["spearman_ci_low"], last["spearman_ci_high"] - last["spearman"]])
            ax.errorbar(x, last["spearman"], yerr=np.clip(err, 0, None), marker="o", ms=3, capsize=2, label=method)
            ticks = [str(v).replace("features.", "f.").replace("classifier.", "c.") for v in last["randomised"]]
            ax.set_xticks(x, ticks, rotation=45, ha="right", fontsize=8)
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_title(
            f"{test} randomisation" + (" (output layer first)" if test == "cascading" else " (one layer)"), fontsize=10
        )
        ax.set_xlabel("randomised layer" + (" (deepest so far)" if test == "cascading" else ""))
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("median Spearman ρ with original maps")
    axes[-1].legend(fontsize=8)
    fig.suptitle("Sanity checks (Adebayo et al. 2018): maps should change when the model is randomised", fontsize=11)
    _tight(fig)
    return fig


def _panel(ax, x_disp: np.ndarray, m: np.ndarray | None, one_d: bool) -> None:
    if one_d:
        ax.plot(x_disp, color="black", lw=1)
        if m is not None:
            ax2 = ax.twinx()
            ax2.fill_between(np.arange(len(m)), 0, m, color="tab:orange", alpha=0.5)
            ax2.set_yticks([])
        ax.set_xticks([])
        ax.set_yticks([])
        return
    ax.imshow(x_disp if m is None else x_disp.mean(-1), cmap=None if m is None else "gray")
    if m is not None:
        span = np.ptp(m)
        ax.imshow((m - m.min()) / span if span > 0 else np.zeros_like(m), cmap="magma", alpha=0.6, vmin=0, vmax=1)
    ax.axis("off")


def cascading_maps(per: dict, mean, std) -> Figure:
    """One evaluation image's last-layer maps under cascading randomisation, one row per method (methods that
    explain another model, e.g. CAM's GAP model, may have fewer randomisation steps: their row ends earlier)."""
    methods = sorted(per)

    def short(v: str) -> str:
        return f"…{v.split('.')[-2:][0]}.{v.split('.')[-1]}" if "." in v else v

    n_cols = 1 + max(per[m]["cascade_example"].shape[0] for m in methods)
    one_d = per[methods[0]]["cascade_example"].ndim == 3
    fig = _figure(1.6 * n_cols + 1.5, (1.35 if one_d else 1.8) * len(methods) + 1.2)
    axes = fig.subplots(len(methods), n_cols, squeeze=False)
    for i, method in enumerate(methods):
        d = per[method]
        x_disp = to_display(d["cascade_example_x"][None], mean, std)[0]
        ex = d["cascade_example"][:, -1]
        titles = ["input", "original"] + [short(str(v)) for v in d["cascade_labels"]]
        _panel(axes[i, 0], x_disp, None, one_d)
        for j in range(ex.shape[0]):
            _panel(axes[i, j + 1], x_disp, ex[j], one_d)
        for j in range(ex.shape[0] + 1, n_cols):
            axes[i, j].axis("off")
        for j in range(min(n_cols, ex.shape[0] + 1)):
            axes[i, j].set_title(titles[j] if j < len(titles) else "", fontsize=8)
        axes[i, 0].set_ylabel(method, fontsize=9)
        if not one_d:
            axes[i, 0].axis("on")
            axes[i, 0].set_xticks([])
            axes[i, 0].set_yticks([])
    fig.suptitle(
        "Maps under cascading randomisation (output layer first; column = deepest layer randomised so far; "
        "each map scaled to its own range)",
        fontsize=10,
    )
    _tight(fig)
    return fig


def localisation_bars(loc: pd.DataFrame) -> Figure:
    if loc.empty:
        return _message("This dataset has no ground-truth masks: localisation is not measured.", "Localisation")
    last = loc.groupby("method", sort=True).tail(1)
    metrics = [
        m for m in ("pointing_game", "relevance_mass", "rank_accuracy", "topk_iou", "distractor_share") if m in last
    ]
    fig = _figure(3.2 * len(metrics) + 1, 4.2)
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    for ax, m in zip(axes, metrics):
        y = last[m].to_numpy()
        err = np.vstack([y - last[f"{m}_ci_low"], last[f"{m}_ci_high"] - y])
        ax.bar(np.arange(len(last)), y, yerr=np.clip(err, 0, None), capsize=3, color="tab:blue")
        ax.set_xticks(np.arange(len(last)), last["method"], rotation=45, ha="right", fontsize=8)
        ax.set_title(m.replace("_", " ") + (" (lower is better)" if m == "distractor_share" else ""), fontsize=10)
        ax.set_ylim(0, 1)
        ax.grid(axis="y", alpha=0.3)
    axes[0].set_ylabel("mean over evaluation images (95 % CI)")
    fig.suptitle("Localisation against the ground-truth mask (last layer of each method)", fontsize=11)
    _tight(fig)
    return fig


def best_worst(per: dict, images: pd.DataFrame, explanations: list[str], mean, std, fill: float) -> Figure:
    """Per method (last layer): the image with the lowest and the highest drop %, as input, map and the
    masked input that was scored (only the top-k % kept; seed 004 Figs 21–22)."""
    files = {}
    for p in explanations:
        f = np.load(p)
        sel = f["subset"] == "evaluation"
        files[p] = (f["x"][sel], f["maps"][sel], f["maps_raw"][sel] if "maps_raw" in f.files else None, f["index"][sel])
    methods = sorted(per)
    fig_rows = []
    for method in methods:
        d = per[method]
        path = next((p for p in explanations if p.endswith(f"/{method}.npz")), None)
        if path is None:
            continue
        x, maps, raw, index = files[path]
        drop = images[(images["method"] == method) & (images["layer"] == str(d["layers"][-1]))]["drop"].to_numpy()
        for case, i in (("best", int(np.argmin(drop))), ("worst", int(np.argmax(drop)))):
            m = maps[i, -1]
            rank = position_ranks(_t(m[None]), _t(raw[i, -1][None]) if raw is not None else None)[0].numpy()
            k = max(1, int(round(rank.size * float(d["keep_percent"]) / 100)))
            keep = (rank < k).reshape(m.shape)
            kept = np.where(keep[None], x[i], fill)
            fig_rows.append(
                (f"{method}\n{case}: drop {drop[i]:.2f}\np={d['p'][i]:.2f}→{d['p_kept'][i, -1]:.2f}", x[i], m, kept)
            )
    if not fig_rows:
        return _message("no evaluation images", "Best and worst cases")
    one_d = fig_rows[0][2].ndim == 1
    fig = _figure(9, (1.3 if one_d else 1.9) * len(fig_rows) + 1)
    axes = fig.subplots(len(fig_rows), 3, squeeze=False)
    for r, (label, xi, m, kept) in enumerate(fig_rows):
        xd, kd = to_display(xi[None], mean, std)[0], to_display(kept[None], mean, std)[0]
        _panel(axes[r, 0], xd, None, one_d)
        _panel(axes[r, 1], xd, m, one_d)
        _panel(axes[r, 2], kd, None, one_d)
        axes[r, 0].axis("on")
        axes[r, 0].set_xticks([])
        axes[r, 0].set_yticks([])
        axes[r, 0].set_ylabel(label, fontsize=8, rotation=0, ha="right", va="center")
    for j, t in enumerate(["input", "map (last layer)", "scored input: top-k % kept, rest = fill"]):
        axes[0, j].set_title(t, fontsize=9)
    fig.suptitle("Lowest and highest drop % per method (seed 004 §IV-C)", fontsize=11)
    _tight(fig)
    return fig


def _t(a):
    import torch

    return torch.as_tensor(np.ascontiguousarray(a))
