"""Stage: CAM's global-average-pooling model of one dataset (seeds 002, 003).

``model.cam_model: frozen`` (default, seed 003's way): the dataset's trained model up to its last
explained layer is kept frozen; its maps are pooled once per image and only a linear head is fit
on them, so CAM explains the same features as every other method; the head is trained with the loss of
the dataset's task (:mod:`posthoc.tasks`: binary cross-entropy for a multi-label dataset). ``scratch``: the architecture's
GAP variant trained from scratch like the dataset's model (own architectures only).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .. import data, io, models
from ..plots.training import training_curves
from ..train import Normaliser, batches, split_scores
from . import train as train_stage


@torch.no_grad()
def pooled_features(
    trunk: torch.nn.Module, samples: np.ndarray, normalise: Normaliser, batch_size: int
) -> torch.Tensor:
    """(N, C) spatial means of the trunk's output maps, in eval mode, batched."""
    trunk.eval()
    out = [
        trunk(normalise(samples[s])).flatten(2).mean(2)
        for s in tqdm(list(batches(len(samples), batch_size)), desc="features", mininterval=5)
    ]
    return torch.cat(out)


def run(
    *,
    dataset: str,
    meta: str,
    stats: str,
    trained: str | list,
    checkpoint: str,
    history: str,
    scores: str,
    curves: str,
    model: dict,
    train: dict,
    seed: int,
    device: str,
    resume: str,
) -> dict:
    """CAM's GAP model: a linear head on the frozen features of ``trained`` (the dataset's model), or
    (``model.cam_model: scratch``, ``trained`` empty) the architecture's GAP variant trained from scratch."""
    data_dir = str(Path(meta).parent)
    if model["cam_model"] == "scratch":
        return train_stage.run(
            dataset=dataset,
            meta=meta,
            stats=stats,
            checkpoint=checkpoint,
            history=history,
            scores=scores,
            curves=curves,
            model={**model, "gap": True},
            train=train,
            seed=seed,
            device=device,
            resume=resume,
        )
    base, info = models.load_checkpoint(trained)
    layer = info["layers"][-1]
    n_classes = len(info["class_names"])
    torch.manual_seed(seed)
    gap = models.gap_model(base, layer, info["in_channels"], info["input_shape"], n_classes)
    normalise = Normaliser(info["mean"], info["std"], info["pixel_scale"])
    splits = {s: data.load_split(data_dir, s) for s in ("train", "val", "test")}
    feats = {s: pooled_features(gap.trunk, split.images, normalise, 256) for s, split in splits.items()}
    rows = models.fit_head(
        gap.head,
        feats["train"],
        splits["train"].labels,
        (feats["val"], splits["val"].labels),
        epochs=int(train["cam_epochs"]),
        batch_size=int(train["batch_size"]),
        lr=float(train["lr"]),
        weight_decay=float(train["weight_decay"]),
        seed=seed,
        task=info.get("task"),
    )
    with torch.no_grad():  # the scores of scores.json as train writes them (multi-label: exact match, AUC too)
        result = {
            name: split_scores(gap.head(feats[name]), split.labels, info.get("task")) for name, split in splits.items()
        }
    gap_info = {
        **info,
        "gap_layer": layer,
        "layers": [gap.pooled_layer],
        "cam_model": "frozen",
        "epochs": int(train["cam_epochs"]),
    }
    table = pd.DataFrame(rows)
    io.save_csv(history, table)
    io.save_json(scores, result)
    io.save_figure(training_curves(table), curves)
    models.save_checkpoint(checkpoint, gap.eval(), gap_info)
    print(f"GAP head on the frozen features of {layer}: " + pd.DataFrame(result).T.to_string())
    return result
