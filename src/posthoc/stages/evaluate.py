"""Stage: classification evaluation on the test split (seed 004 §III-A, §IV-A)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import data, io, metrics, models
from ..plots import evaluation as figures
from ..train import Normaliser, predict_logits, select_device


def run(data_dir: str, checkpoint: str, out_predictions: str, out_per_class: str, out_confusion_csv: str,
        out_confusion_png: str, out_roc_png: str, out_roc_auc: str, out_report: str, device: str = "auto") -> dict:
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
    io.save_figure(figures.confusion_matrix(cm, names, title=f"{info['dataset']}: normalised confusion (test)"),
                   out_confusion_png)
    fpr, tpr, auc = metrics.one_vs_rest_roc(labels, probs)
    io.save_figure(figures.roc_curves(fpr, tpr, auc, names), out_roc_png)
    io.save_csv(out_roc_auc, pd.DataFrame({"class": names, "auc": [auc[c] for c in range(len(names))]}))
    io.save_csv(out_report, metrics.precision_recall_f1(labels, preds, names))
    accuracy = float((preds == labels).mean())
    print(f"test accuracy {accuracy:.4f}")
    return {"accuracy": accuracy}
