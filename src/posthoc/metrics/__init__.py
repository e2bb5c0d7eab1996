"""Classification metrics (seed 004 §III-A, §IV-A) and faithfulness metrics (seed 004 §III-C)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
import torch
from sklearn import metrics as skm
from torch import nn

from .. import tasks


# --- classification ---------------------------------------------------------------------------


def per_class_accuracy(labels: np.ndarray, preds: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    rows = []
    for c, name in enumerate(class_names):
        sel = labels == c
        rows.append(
            {
                "class": name,
                "n": int(sel.sum()),
                "accuracy": float((preds[sel] == c).mean()) if sel.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)


def label_confusions(labels: np.ndarray, preds: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """Multi-label: each label's own 2×2 confusion (counts ``tn, fp, fn, tp`` of 0/1 ``(N, L)`` labels
    against 0/1 predictions), with its sensitivity (tp / positives) and specificity (tn / negatives)."""
    labels, preds = np.asarray(labels).astype(bool), np.asarray(preds).astype(bool)
    tp, fn = (labels & preds).sum(0), (labels & ~preds).sum(0)
    fp, tn = (~labels & preds).sum(0), (~labels & ~preds).sum(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sensitivity, specificity = tp / (tp + fn), tn / (tn + fp)
    return pd.DataFrame(
        {
            "class": list(class_names),
            "tn": tn,
            "fp": fp,
            "fn": fn,
            "tp": tp,
            "sensitivity": sensitivity,
            "specificity": specificity,
        }
    )


def per_label_accuracy(labels: np.ndarray, preds: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """Multi-label: per label, the images carrying it (``n``) and the share of images whose yes/no for it is
    right (``accuracy``)."""
    labels, preds = np.asarray(labels), np.asarray(preds)
    return pd.DataFrame(
        {"class": list(class_names), "n": labels.sum(0).astype(int), "accuracy": (labels == preds).mean(0)}
    )


def normalised_confusion(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Rows = true class, normalised to sum to 1 (the diagonal is the per-class accuracy)."""
    cm = skm.confusion_matrix(labels, preds, labels=np.arange(n_classes)).astype(float)
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)


def precision_recall_f1(labels: np.ndarray, preds: np.ndarray, class_names: Sequence[str]) -> pd.DataFrame:
    """Per class (or per label, for 0/1 ``(N, L)`` labels and predictions) and their macro average;
    ``support`` = the class's (label's) true samples."""
    p, r, f, s = skm.precision_recall_fscore_support(labels, preds, labels=np.arange(len(class_names)), zero_division=0)
    table = pd.DataFrame({"class": list(class_names), "precision": p, "recall": r, "f1": f, "support": s})
    macro = {"class": "macro avg", "precision": p.mean(), "recall": r.mean(), "f1": f.mean(), "support": s.sum()}
    return pd.concat([table, pd.DataFrame([macro])], ignore_index=True)


def one_vs_rest_roc(labels: np.ndarray, probs: np.ndarray) -> tuple[dict, dict, dict]:
    """Per class: false/true positive rates and AUC (NaN AUC where a class is absent); multi-label 0/1
    ``(N, L)`` labels: per label, that label against its absence."""
    fpr, tpr, auc = {}, {}, {}
    labels = np.asarray(labels)
    for c in range(probs.shape[1]):
        positive = labels[:, c] == 1 if labels.ndim == 2 else labels == c
        if positive.all() or not positive.any():
            fpr[c], tpr[c], auc[c] = np.array([0.0, 1.0]), np.array([0.0, 1.0]), float("nan")
            continue
        fpr[c], tpr[c], _ = skm.roc_curve(positive, probs[:, c])
        auc[c] = float(skm.auc(fpr[c], tpr[c]))
    return fpr, tpr, auc


# --- faithfulness -----------------------------------------------------------------------------


def keep_top_mask(maps: torch.Tensor, keep_percent: float, tiebreak: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask (N, *spatial) of the top ``keep_percent`` % positions of each map.

    Ties in ``maps`` are broken by ``tiebreak`` (e.g. the pre-ReLU map), then by position.
    """
    n, flat = maps.shape[0], maps.reshape(maps.shape[0], -1)
    k = max(1, min(flat.shape[1], int(round(flat.shape[1] * keep_percent / 100.0))))
    order = torch.arange(flat.shape[1]).expand(n, -1)
    if tiebreak is not None:
        order = torch.sort(tiebreak.reshape(n, -1), dim=1, descending=True, stable=True).indices
    values = torch.gather(flat, 1, order)
    order = torch.gather(order, 1, torch.sort(values, dim=1, descending=True, stable=True).indices)
    mask = torch.zeros_like(flat, dtype=torch.bool)
    mask.scatter_(1, order[:, :k], True)
    return mask.reshape(maps.shape)


@torch.no_grad()
def drop_increase(
    model: nn.Module,
    x: torch.Tensor,
    maps: torch.Tensor,
    target: torch.Tensor,
    keep_percent: float,
    fill: float = 0.0,
    raw: torch.Tensor | None = None,
    batch_size: int = 256,
    device="cpu",
    task: str | None = None,
) -> pd.DataFrame:
    """Drop rate and increase rate of every layer's maps (seed 004 §III-C); the target's probability is
    the softmax of the logits, or the target label's sigmoid for a multi-label ``task``.

    Keep the top-k % most salient input positions (all channels of a position), set the rest to
    ``fill`` (in normalised space; 0 = the dataset mean), re-score the target class probability
    p' and compare with the original p: drop % = max(0, p − p') / p averaged over images; increase
    rate = share of images with p' > p. ``maps`` (N, n_layers, *spatial); returns one row per layer
    with columns ``layer_index, drop_rate, increase_rate, n``.
    """
    model.eval()
    n, n_layers = maps.shape[:2]
    target = torch.as_tensor(target, dtype=torch.long)
    drops = torch.zeros(n_layers, n, dtype=torch.float64)
    increases = torch.zeros(n_layers, n, dtype=torch.bool)
    per_chunk = max(1, batch_size // (n_layers + 1))
    for start in range(0, n, per_chunk):
        sl = slice(start, min(start + per_chunk, n))
        xb, tb = x[sl].to(device), target[sl].to(device)
        b = xb.shape[0]
        m = maps[sl].flatten(0, 1)
        tie = raw[sl].flatten(0, 1) if raw is not None else None
        keep = keep_top_mask(m, keep_percent, tie).reshape(b, n_layers, 1, *xb.shape[2:]).to(device)
        masked = torch.where(keep, xb.unsqueeze(1), torch.as_tensor(fill, dtype=xb.dtype, device=device))
        batch = torch.cat([xb, masked.flatten(0, 1)])  # originals first, then every layer's masked copies
        probs = tasks.get(task).probabilities(model(batch).double())
        p = probs[:b].gather(1, tb.view(-1, 1)).squeeze(1)
        p_masked = probs[b:].reshape(b, n_layers, -1).gather(2, tb.view(-1, 1, 1).expand(b, n_layers, 1)).squeeze(2)
        drops[:, sl] = (torch.clamp(p.unsqueeze(1) - p_masked, min=0) / p.unsqueeze(1).clamp_min(1e-12)).T.cpu()
        increases[:, sl] = (p_masked > p.unsqueeze(1)).T.cpu()
    return pd.DataFrame(
        {
            "layer_index": np.arange(n_layers),
            "drop_rate": drops.mean(1).numpy(),
            "increase_rate": increases.double().mean(1).numpy(),
            "n": n,
        }
    )
