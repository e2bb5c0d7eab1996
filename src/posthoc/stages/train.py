"""Stage: train one dataset's model (seed 000 §3), resumable, and report its accuracy and loss; the checkpoint's
``info`` and the scores, shared with ``stages.import_model``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from .. import data, io, models
from ..plots.training import training_curves
from ..errors import UserError
from ..train import (
    Normaliser,
    fingerprint,
    fit,
    predict_logits,
    seed_everything,
    select_device,
    shuffled_labels,
    split_scores,
)


def spatial_shape(meta: dict) -> tuple[int, ...]:
    """Per-sample spatial shape: (L,) for signals, (H, W) for images stored as (H, W, C)."""
    return tuple(meta["shape"][:1]) if meta["ndim"] == 1 else tuple(meta["shape"][:2])


#: model keys that are not options of the architecture's constructor
MODEL_KEYS = ("arch", "explain_layers", "cam_model", "weights", "pretrained_normalisation", "checkpoint")
#: train keys that the training loop takes
FIT_KEYS = ("epochs", "batch_size", "lr", "weight_decay", "amp", "compile")
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def architecture_options(model_cfg: dict) -> dict:
    return {k: v for k, v in model_cfg.items() if k not in MODEL_KEYS}


def normalisation(model_cfg: dict, stats: dict, channels: int) -> tuple[list, list]:
    """The training split's mean/std, or ImageNet's (``model.pretrained_normalisation: imagenet``)."""
    if model_cfg.get("pretrained_normalisation", "dataset") != "imagenet":
        return stats["mean"], stats["std"]
    if channels == 3:
        return IMAGENET_MEAN, IMAGENET_STD
    return [sum(IMAGENET_MEAN) / 3] * channels, [sum(IMAGENET_STD) / 3] * channels


def freeze(model, mode: str) -> None:
    """``features``: only the last linear layer (the head) keeps ``requires_grad`` (``train.freeze``)."""
    if mode == "none":
        return
    head = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    for p in model.parameters():
        p.requires_grad_(False)
    for p in head.parameters():
        p.requires_grad_(True)


def run(
    *,
    dataset: str,
    meta: str,
    stats: str,
    checkpoint: str,
    history: str,
    scores: str,
    curves: str,
    model: dict,
    train: dict,
    seed: int,
    device: str,
    resume: str | None,
) -> dict:
    """Fit the model of config ``model`` with settings ``train``; ``resume`` holds the state of an interrupted
    run. (A dataset whose config names ``model.checkpoint`` has no train job: see ``stages.import_model``.)"""
    return train_and_save(
        dataset=dataset,
        meta=meta,
        stats=stats,
        checkpoint=checkpoint,
        history=history,
        scores=scores,
        curves=curves,
        model=model,
        train=train,
        seed=seed,
        device=device,
        resume=resume,
        shuffle_labels_seed=None,
    )


def train_and_save(
    *,
    dataset: str,
    meta: str,
    stats: str,
    checkpoint: str,
    history: str,
    scores: str,
    curves: str,
    model: dict,
    train: dict,
    seed: int,
    device: str,
    resume: str | None,
    shuffle_labels_seed: int | None,
) -> dict:
    """The training stage's work, shared by the dataset's model, its replicates (another ``seed``) and the
    data-randomisation model (training labels permuted under ``shuffle_labels_seed``; None: the true labels)."""
    data_dir = str(Path(meta).parent)
    out_checkpoint, out_history, out_scores, out_curves = checkpoint, history, scores, curves
    model_cfg, train_cfg, resume_path = model, train, resume
    meta, stats = data.read_meta(data_dir), io.load_json(stats)
    dev = select_device(device)
    seed_everything(seed)
    model = models.build_model(
        model_cfg["arch"],
        meta["channels"],
        len(meta["class_names"]),
        spatial_shape(meta),
        weights=model_cfg.get("weights"),
        **architecture_options(model_cfg),
    )
    freeze(model, train_cfg["freeze"])
    info = model_info(meta, stats, model_cfg, model, seed, epochs=int(train_cfg["epochs"]), source="trained")
    normalise = Normaliser(info["mean"], info["std"], info["pixel_scale"])
    splits = {s: data.load_split(data_dir, s) for s in ("train", "val", "test")}
    settings = {"model": model_cfg, "train": train_cfg, "seed": seed, "data": meta["checksum"], "stats": stats["mean"]}
    train_labels = splits["train"].labels
    if shuffle_labels_seed is not None:
        if model_cfg.get("checkpoint"):
            raise UserError(
                f"datasets.{dataset}.model.checkpoint is an existing model, which cannot be retrained on shuffled labels "
                "or other seeds; set replicates: 1 and map_quality.sanity.data_randomisation: false for this dataset"
            )
        train_labels = shuffled_labels(train_labels, shuffle_labels_seed)
        settings["shuffle_labels_seed"] = shuffle_labels_seed
        info["shuffle_labels_seed"] = shuffle_labels_seed
    history = fit(
        model,
        (splits["train"].images, train_labels),
        (splits["val"].images, splits["val"].labels),
        normalise,
        seed=seed,
        device=dev,
        resume_path=resume_path,
        settings_fingerprint=fingerprint(settings),
        task=meta.get("task"),
        **{k: v for k, v in train_cfg.items() if k in FIT_KEYS},
    )
    scores = score_splits(model, splits, normalise, meta.get("task"), dev)
    model.cpu()
    io.save_csv(out_history, history)
    io.save_json(out_scores, scores)
    io.save_figure(training_curves(history), out_curves)
    models.save_checkpoint(out_checkpoint, model, info)  # last: its presence means training finished
    if resume_path and Path(resume_path).exists():
        Path(resume_path).unlink()
    print(pd.DataFrame(scores).T.to_string())
    return scores


def model_info(meta: dict, stats: dict, model_cfg: dict, model, seed: int, epochs: int, source: str) -> dict:
    """The checkpoint's ``info``: what rebuilds and uses the model (see ``models.load_checkpoint``); ``model``
    ``None``: a TorchScript model (no architecture to rebuild, no explained layers)."""
    mean, std = normalisation(model_cfg, stats, meta["channels"])
    return {
        "dataset": meta["name"],
        "arch": model_cfg["arch"] if model is not None else "torchscript",
        "arch_kwargs": architecture_options(model_cfg) if model is not None else {},
        "class_names": meta["class_names"],
        "task": meta.get("task", "multi-class"),
        "in_channels": meta["channels"],
        "input_shape": list(spatial_shape(meta)),
        "mean": mean,
        "std": std,
        "pixel_scale": stats["pixel_scale"],
        "explain_layers": model_cfg["explain_layers"],
        "layers": models.explainable_layers(model, model_cfg["explain_layers"]) if model is not None else [],
        "seed": seed,
        "epochs": epochs,
        "source": source,
    }


def score_splits(model, splits: dict, normalise: Normaliser, task: str | None, device) -> dict:
    """``scores.json``: each split's loss and accuracy (multi-label: more, see ``train.split_scores``)."""
    return {
        name: split_scores(predict_logits(model, split.images, normalise, device=device), split.labels, task)
        for name, split in splits.items()
    }
