"""Stage: classification evaluation on the test split (seed 004 §III-A, §IV-A).

Multi-label datasets keep the file names with per-label content: predictions hold (N, L) sigmoid
probabilities and 0/1 decisions at 0.5, ``confusion.*`` each label's 2×2 table, ROC and the
classification report one row per label."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .. import data, io, metrics, models, tasks
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
    task = tasks.get(info.get("task"))
    probs = task.probabilities(logits).numpy()
    labels, preds = np.asarray(test.labels), task.predictions(probs)
    io.save_npz(out_predictions, probs=probs.astype(np.float32), label=labels, pred=preds)
    if task.multi_label:  # no confusion between labels: each label's own 2x2 table
        io.save_csv(out_per_class, metrics.per_label_accuracy(labels, preds, names))
        table = metrics.label_confusions(labels, preds, names)
        io.save_csv(out_confusion_csv, table)
        io.save_figure(
            figures.label_confusions(table, title=f"{info['dataset']}: per-label confusion at 0.5 (test)"),
            out_confusion_png,
        )
    else:
        io.save_csv(out_per_class, metrics.per_class_accuracy(labels, preds, names))
        cm = metrics.normalised_confusion(labels, preds, len(names))
        io.save_csv(out_confusion_csv, pd.DataFrame(cm, columns=names).assign(true=names)[["true", *names]])
        io.save_figure(
            figures.confusion_matrix(cm, names, title=f"{info['dataset']}: normalised confusion (test)"),
            out_confusion_png,
        )
    fpr, tpr, auc = metrics.one_vs_rest_roc(labels, probs)
    io.save_figure(figures.roc_curves(fpr, tpr, auc, names), out_roc_png)
    io.save_csv(out_roc_auc, pd.DataFrame({"class": names, "auc": [auc[c] for c in range(len(names))]}))
    io.save_csv(out_report, metrics.precision_recall_f1(labels, preds, names))
    accuracy = float((preds == labels).mean())  # multi-label: label-wise accuracy
    print(f"test {task.score_name} {accuracy:.4f}")
    return {"accuracy": accuracy}
