"""Stage: train one dataset's model (seed 000 §3), resumable, and report its accuracy and loss."""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from .. import data, io, models
from ..plots.training import training_curves
from ..train import Normaliser, fingerprint, fit, loss_and_accuracy, predict_logits, seed_everything, select_device


def spatial_shape(meta: dict) -> tuple[int, ...]:
    """Per-sample spatial shape: (L,) for signals, (H, W) for images stored as (H, W, C)."""
    return tuple(meta["shape"][:1]) if meta["ndim"] == 1 else tuple(meta["shape"][:2])


def run(*, dataset: str, meta: str, stats: str, checkpoint: str, history: str, scores: str, curves: str,
        model: dict, train: dict, seed: int, device: str, resume: str | None) -> dict:
    """Fit the model of config ``model`` with settings ``train``; ``resume`` holds the state of an interrupted run."""
    data_dir = str(Path(meta).parent)
    out_checkpoint, out_history, out_scores, out_curves = checkpoint, history, scores, curves
    model_cfg, train_cfg, resume_path = model, train, resume
    meta, stats = data.read_meta(data_dir), io.load_json(stats)
    dev = select_device(device)
    arch_kwargs = {k: v for k, v in model_cfg.items() if k != "arch"}
    seed_everything(seed)
    model = models.build_model(model_cfg["arch"], meta["channels"], len(meta["class_names"]), spatial_shape(meta),
                               **arch_kwargs)
    normalise = Normaliser(stats["mean"], stats["std"], stats["pixel_scale"])
    splits = {s: data.load_split(data_dir, s) for s in ("train", "val", "test")}
    settings = {"model": model_cfg, "train": train_cfg, "seed": seed, "data": meta["checksum"], "stats": stats["mean"]}
    history = fit(model, (splits["train"].images, splits["train"].labels), (splits["val"].images, splits["val"].labels),
                  normalise, seed=seed, device=dev, resume_path=resume_path, settings_fingerprint=fingerprint(settings),
                  **train_cfg)
    scores = {}
    for name, split in splits.items():
        loss, acc = loss_and_accuracy(predict_logits(model, split.images, normalise, device=dev), split.labels)
        scores[name] = {"accuracy": acc, "loss": loss, "n": int(len(split.labels))}
    info = {"dataset": meta["name"], "arch": model_cfg["arch"], "arch_kwargs": arch_kwargs,
            "class_names": meta["class_names"], "in_channels": meta["channels"], "input_shape": list(spatial_shape(meta)),
            "mean": stats["mean"], "std": stats["std"], "pixel_scale": stats["pixel_scale"],
            "layers": models.explainable_layers(model), "seed": seed, "epochs": int(train_cfg["epochs"])}
    model.cpu()
    io.save_csv(out_history, history)
    io.save_json(out_scores, scores)
    io.save_figure(training_curves(history), out_curves)
    models.save_checkpoint(out_checkpoint, model, info)  # last: its presence means training finished
    if resume_path and Path(resume_path).exists():
        Path(resume_path).unlink()
    print(pd.DataFrame(scores).T.to_string())
    return scores
