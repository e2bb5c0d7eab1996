"""Stage: classification evaluation on the test split (seed 004 §III-A, §IV-A)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import data, io, metrics, models
from ..plots import evaluation as figures
from ..train import Normaliser, predict_logits, select_device


def run(
    *,
    dataset: str,
    meta: str,
    checkpoint: str,
    predictions: str,
    per_class: str,
    confusion_csv: str,
    confusion_png: str,
    roc_png: str,
    roc_auc: str,
    report: str,
    device: str,
) -> dict:
    """Predictions, per-class accuracy, confusion, ROC and precision/recall/F1 of ``checkpoint`` on the test split."""
    data_dir = str(Path(meta).parent)
    out_predictions, out_per_class, out_confusion_csv, out_confusion_png, out_roc_png, out_roc_auc, out_report = (
        predictions,
        per_class,
        confusion_csv,
        confusion_png,
        roc_png,
        roc_auc,
        report,
    )
    model, info = models.load_checkpoint(checkpoint)
    dev = select_device(device)
    model.to(dev)
    test = data.load_split(data_dir, "test")
    names = info["class_names"]
    logits = predict_logits(model, test.images, Normaliser(info["mean"], info["std"], info["pixel_scale"]), device=dev)
    probs = torch.softmax(logits, 1).numpy()
    labels, preds = np.asarray(test.labels), probs.argmax(1)
    io.save_npz(out_predictions, probs=probs.astype(np.float32), label=labels, pred=preds)
    io.save_csv(out_per_class, metrics.per_class_accuracy(labels, preds, names))
    cm = metrics.normalised_confusion(labels, preds, len(names))
    io.save_csv(out_confusion_csv, pd.DataFrame(cm, columns=names).assign(true=names)[["true", *names]])
    io.save_figure(
        figures.confusion_matrix(cm, names, title=f"{info['dataset']}: normalised confusion (test)"), out_confusion_png
    )
    fpr, tpr, auc = metrics.one_vs_rest_roc(labels, probs)
    io.save_figure(figures.roc_curves(fpr, tpr, auc, names), out_roc_png)
    io.save_csv(out_roc_auc, pd.DataFrame({"class": names, "auc": [auc[c] for c in range(len(names))]}))
    io.save_csv(out_report, metrics.precision_recall_f1(labels, preds, names))
    accuracy = float((preds == labels).mean())
    print(f"test accuracy {accuracy:.4f}")
    return {"accuracy": accuracy}
