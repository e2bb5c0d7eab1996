"""Stage: LIME top-k superpixel figures of one dataset (seed 001 §2.4, Figs 2.5–2.12).

Seeded choices of correctly and wrongly classified test images are explained for their predicted
class under each hyper-parameter setting (keep probability, kernel width; the rest from
``methods.lime``) on the same superpixels; the figures show the top-k superpixels for every k, and
``examples.csv`` lists each fit with its local fidelity (weighted R²).

A multi-label dataset (:mod:`posthoc.tasks`): the predicted class is the top-scoring label, explained through
its sigmoid; an image is correctly classified when that label is one it carries, and ``true_class`` is the
top-scoring label it carries (the top-scoring one when it carries none).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .. import io, tasks
from ..plots.lime import lime_topk
from ..plots.panels import message_figure
from ..explain.lime import explain_segments, segment
from ..preprocess import to_display
from .explain import load_explained

SEGMENTATION_KEYS = ("kernel_size", "max_dist", "ratio", "segment_length")
FIT_KEYS = ("n_samples", "keep_probability", "kernel_width", "alpha", "fill", "batch_size", "seed")


def pick_examples(labels: np.ndarray, preds: np.ndarray, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    out = {}
    for outcome, sel in (("correct", labels == preds), ("wrong", labels != preds)):
        idx = np.flatnonzero(sel)
        out[outcome] = np.sort(rng.choice(idx, size=min(n, len(idx)), replace=False)) if len(idx) else idx
    return out


def setting_label(setting: dict) -> str:
    return f"keep p = {setting['keep_probability']:g}, kernel width {setting['kernel_width']:g}"


def run(
    *,
    dataset: str,
    meta: str,
    checkpoint: str,
    predictions: str,
    correct: str,
    wrong: str,
    examples: str,
    lime_params: dict,
    settings: list[dict],
    top_k: list[int],
    n_examples: int,
    seed: int,
    device: str,
) -> pd.DataFrame:
    """LIME top-k figures of correctly (``correct``) and wrongly (``wrong``) classified test images, and their fits
    (``examples``); ``lime_params``: the config of method lime, ``settings``: the (keep probability, kernel width)
    pairs compared."""
    out_correct, out_wrong, out_csv = correct, wrong, examples
    model, info, dev, normalise, test, (labels, _, probs) = load_explained(meta, checkpoint, predictions, device)
    names, task = info["class_names"], info.get("task")
    labels, preds = tasks.get(task).explained(labels, probs)  # multi-label: see the module
    seg_params = {k: lime_params[k] for k in SEGMENTATION_KEYS if k in lime_params}
    fit_params = {k: lime_params[k] for k in FIT_KEYS if k in lime_params}
    examples = pick_examples(labels, preds, n_examples, seed)
    records = []
    for outcome, out in (("correct", out_correct), ("wrong", out_wrong)):
        idx = examples[outcome]
        if not len(idx):
            io.save_figure(message_figure(f"No {outcome}ly classified test image.", f"{info['dataset']}: LIME"), out)
            continue
        x = normalise(test.images[idx]).to(dev)
        segments = segment(x, **seg_params, seed=fit_params.get("seed", 0))
        shown = to_display(x.cpu(), info["mean"], info["std"])
        rows = [None] * (len(idx) * len(settings))
        for s, setting in enumerate(tqdm(settings, desc=f"LIME {outcome} ({len(idx)} images)", mininterval=5)):
            res = explain_segments(
                model, x, torch.as_tensor(preds[idx]), segments, **{**fit_params, **setting}, task=task
            )
            for i, j in enumerate(idx):
                head = (
                    f"#{j}: true {names[labels[j]]}, predicted {names[preds[j]]} (p={probs[j, preds[j]]:.2f})\n"
                    f"{setting_label(setting)}; R² {res.r2[i]:.2f}"
                )
                rows[i * len(settings) + s] = {
                    "image": shown[i],
                    "segments": segments[i],
                    "coef": res.coef[i],
                    "label": head,
                }
                records.append(
                    {
                        "outcome": outcome,
                        "index": int(j),
                        "true_class": names[labels[j]],
                        "predicted_class": names[preds[j]],
                        "p_predicted": float(probs[j, preds[j]]),
                        "superpixels": len(res.coef[i]),
                        **setting,
                        "n_samples": fit_params.get("n_samples", 1000),
                        "r2": float(res.r2[i]),
                        "intercept": float(res.intercept[i]),
                        "max_weight": float(res.coef[i].max()),
                    }
                )
        fig = lime_topk(
            rows,
            top_k,
            f"{info['dataset']}: LIME for the predicted class, {outcome}ly classified "
            f"test images (top-k superpixels; others dimmed)",
        )
        io.save_figure(fig, out)
    table = pd.DataFrame(records)
    io.save_csv(out_csv, table)
    print(table.to_string(index=False))
    return table
