"""Stage: robustness of predictions and Grad-CAM maps to noise, brightness and contrast (seed 001 §3.5).

A figure per degradation (one correctly classified test image at every level, then the
evaluation-set curves; seed 001 Figs 3.8–3.10) and one table (``stability.csv``): per degradation
and level, accuracy, share of changed predictions, mean confidence and the mean rank correlation of
the Grad-CAM maps with the clean ones, over a seeded evaluation set. A multi-label dataset: sigmoid
probabilities, the top-scoring label as the top class, the top-scoring label the image carries as the original
class, label-wise accuracy (see :mod:`posthoc.robustness`); the example is an image whose top label it carries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .. import io, robustness, tasks
from ..plots.robustness import robustness_levels
from ..preprocess import to_display
from .explain import evaluation_indices, load_explained


def example_figure(model, x1, label: int, kind: str, levels, info: dict, summary: pd.DataFrame, seed: int):
    """One test image at every level of ``kind``: Grad-CAM for the top and the original class ``label``."""
    names, layer = info["class_names"], info["layers"][-1]
    noise = torch.randn(x1.shape, generator=torch.Generator().manual_seed(int(seed)), dtype=x1.dtype).to(x1.device)
    clip = x1.ndim == 4
    results = [
        robustness.evaluate_level(
            model,
            x1,
            torch.tensor([label]),
            kind,
            float(level),
            info["mean"],
            info["std"],
            noise,
            layer,
            clip,
            info.get("task"),
        )
        for level in levels
    ]
    inputs = np.concatenate([to_display(r.x.cpu(), info["mean"], info["std"]) for r in results])
    top = [f"top: {names[r.pred[0]]} ({r.prob[0].max():.2f})" for r in results]
    original = [f"{names[label]} ({r.prob[0, label]:.2f})" for r in results]
    return robustness_levels(
        kind,
        list(levels),
        inputs,
        np.concatenate([r.map_top for r in results]),
        np.concatenate([r.map_original for r in results]),
        top,
        original,
        summary,
        f"{info['dataset']}: {kind} — Grad-CAM ({layer}) for the top and the original class",
        signed=False,
    )


def run(
    *,
    dataset: str,
    meta: str,
    checkpoint: str,
    predictions: str,
    figures: list[str],
    table: str,
    levels: dict,
    n_eval: int,
    batch_size: int,
    seed: int,
    device: str,
) -> pd.DataFrame:
    """Stability ``table`` over a seeded evaluation set and one figure per degradation of ``levels`` (``figures``,
    in the order of ``levels``)."""
    if len(figures) != len(levels):
        raise ValueError(f"{len(figures)} figure paths for {len(levels)} degradations {list(levels)}")
    out_figures, out_csv = dict(zip(levels, figures)), table
    model, info, dev, normalise, test, (labels, _, probs) = load_explained(meta, checkpoint, predictions, device)
    task = info.get("task")
    evaluation = evaluation_indices(len(labels), n_eval, seed)
    x = normalise(test.images[evaluation]).to(dev)
    total = len(evaluation) * sum(len(v) for v in levels.values())
    with tqdm(total=total, desc=f"robustness ({len(evaluation)} images)", mininterval=5) as bar:
        per_image = robustness.sweep(
            model,
            x,
            labels[evaluation],
            info["mean"],
            info["std"],
            levels,
            info["layers"][-1],
            clip=x.ndim == 4,
            batch_size=batch_size,
            seed=seed,
            progress=bar,
            task=task,
        )
    table = robustness.summarise(per_image)
    io.save_csv(out_csv, table)
    original, top = tasks.get(task).explained(labels, probs)
    correct = np.flatnonzero(original == top)
    example = int(np.random.default_rng(seed).choice(correct if len(correct) else np.arange(len(labels))))
    x1 = normalise(test.images[[example]]).to(dev)
    for kind, path in out_figures.items():
        fig = example_figure(
            model, x1, int(original[example]), kind, levels[kind], info, table[table["degradation"] == kind], seed
        )
        io.save_figure(fig, path)
    print(table.to_string(index=False))
    return table
