"""How predictions and Grad-CAM maps behave under degraded inputs (seed 001 §3.5, Figs 3.8–3.10).

Degradations act on the raw input — images in [0, 1] (clipped back into it), signals in their own
units — and the result is normalised again for the model:

* ``noise``: x + level · s · ε with ε ~ N(0, 1), one draw per image (seeded) scaled by each level;
* ``brightness``: x + level · s;
* ``contrast``: m + level · (x − m), m the image's own mean per channel (level 1 = unchanged).

s is 1 for images (levels are fractions of the intensity range) and the training split's std for
signals. At every level the model's prediction and confidence are recorded, and the Grad-CAM map of
the last conv layer for the top class at that level and for the original (true) class. Map stability
is the Spearman rank correlation of each map with the same image's clean map (top class: the clean
top class's map), computed on the pre-ReLU maps (the ReLU ties every negative position at zero).

A multi-label model (:mod:`posthoc.tasks`): probabilities are sigmoids, the "top class" is the top-scoring
label and the "original class" the top-scoring label the clean image carries (the top-scoring one when it
carries none); accuracy is the label-wise accuracy at threshold 0.5 and a changed prediction is the share of
label decisions that differ from the clean image's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from scipy.stats import rankdata
from torch import nn

from . import tasks
from .explain.gradcam import gradcam
from .preprocess import checked_std

DEGRADATIONS = ("noise", "brightness", "contrast")
CLEAN_LEVEL = {"noise": 0.0, "brightness": 0.0, "contrast": 1.0}


def _channel_shape(x: torch.Tensor) -> tuple[int, ...]:
    return (1, -1) + (1,) * (x.ndim - 2)


def degrade(
    raw: torch.Tensor, kind: str, level: float, noise: torch.Tensor | None = None, scale=1.0, clip: bool = True
) -> torch.Tensor:
    """Degrade raw inputs (N, C, *spatial); ``noise`` is a standard-normal draw of the same shape."""
    scale = (
        torch.as_tensor(scale, dtype=raw.dtype, device=raw.device).reshape(_channel_shape(raw))
        if np.ndim(scale)
        else float(scale)
    )
    if kind == "noise":
        out = raw + level * scale * noise
    elif kind == "brightness":
        out = raw + level * scale
    elif kind == "contrast":
        m = raw.mean(dim=tuple(range(2, raw.ndim)), keepdim=True)
        out = m + level * (raw - m)
    else:
        raise ValueError(f"unknown degradation {kind!r}; choose one of {DEGRADATIONS}")
    return out.clamp(0.0, 1.0) if clip else out


def rank_correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman correlation of each row of a with the same row of b (average ranks; NaN if constant)."""
    ra = rankdata(a.reshape(len(a), -1), axis=1)
    rb = rankdata(b.reshape(len(b), -1), axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    den = np.sqrt((ra**2).sum(1) * (rb**2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (ra * rb).sum(1) / np.where(den > 0, den, 1), np.nan)


@dataclass
class LevelResult:
    """One degradation level for a batch: inputs, predictions and Grad-CAM maps (top / original class)."""

    x: torch.Tensor  # degraded model inputs (normalised)
    prob: np.ndarray  # (N, classes)
    pred: np.ndarray  # (N,)
    map_top: np.ndarray  # (N, *spatial) Grad-CAM for the top class at this level
    map_original: np.ndarray
    raw_top: np.ndarray  # the same, before the ReLU
    raw_original: np.ndarray


def evaluate_level(
    model: nn.Module,
    x: torch.Tensor,
    label: torch.Tensor,
    kind: str,
    level: float,
    mean,
    std,
    noise: torch.Tensor,
    layer: str,
    clip: bool,
    task: str | None = None,
) -> LevelResult:
    """Degrade normalised inputs x at one level, predict (probabilities of ``task``), and explain the top and the
    original class."""
    shape = _channel_shape(x)
    mean_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device).reshape(shape)
    std_t = torch.as_tensor(checked_std(std), dtype=x.dtype, device=x.device).reshape(shape)
    raw = degrade(x * std_t + mean_t, kind, level, noise, 1.0 if clip else std, clip)
    xd = (raw - mean_t) / std_t
    with torch.no_grad():
        prob = tasks.get(task).probabilities(model(xd).double())
    pred = prob.argmax(1)
    n = len(x)
    att = gradcam(model, torch.cat([xd, xd]), torch.cat([pred, label.to(pred.device)]).long(), [layer])
    maps, raws = att.maps[:, 0].cpu().numpy(), att.raw[:, 0].cpu().numpy()
    return LevelResult(
        x=xd,
        prob=prob.cpu().numpy(),
        pred=pred.cpu().numpy(),
        map_top=maps[:n],
        map_original=maps[n:],
        raw_top=raws[:n],
        raw_original=raws[n:],
    )


def sweep(
    model: nn.Module,
    x: torch.Tensor,
    label: torch.Tensor,
    mean,
    std,
    levels: Mapping[str, Sequence[float]],
    layer: str,
    clip: bool,
    batch_size: int = 64,
    seed: int = 0,
    progress=None,
    task: str | None = None,
) -> pd.DataFrame:
    """Per image, degradation and level: prediction, confidence and map stability (one row each).

    ``label``: the images' classes (N,), or for a multi-label ``task`` their 0/1 labels (N, L). Columns:
    ``degradation, level, image, label`` (the original class), ``pred, clean_pred, confidence, p_original,
    correct`` (1/0; multi-label: the share of labels decided right), ``changed`` (1/0; multi-label: the share
    of label decisions that changed), ``rank_corr_top, rank_corr_original``.
    """
    model.eval()
    spec = tasks.get(task)
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(int(seed)), dtype=x.dtype).to(x.device)
    truth = np.asarray(torch.as_tensor(label).cpu())
    rows = []
    jobs = [(kind, float(level)) for kind in levels for level in levels[kind]]
    for start in range(0, len(x), batch_size):
        sl = slice(start, min(start + batch_size, len(x)))
        if spec.multi_label:  # the original class: the clean image's top-scoring carried label
            with torch.no_grad():
                clean_prob = spec.probabilities(model(x[sl]).double()).cpu().numpy()
            lab = spec.explained(truth[sl], clean_prob)[0]
        else:
            lab = truth[sl].astype(np.int64)
        original = torch.as_tensor(lab, device=x.device)
        clean = evaluate_level(model, x[sl], original, "noise", 0.0, mean, std, noise[sl], layer, clip, task)
        for kind, level in jobs:
            r = evaluate_level(model, x[sl], original, kind, level, mean, std, noise[sl], layer, clip, task)
            if spec.multi_label:
                said, clean_said = spec.predictions(r.prob), spec.predictions(clean.prob)
                correct, changed = (said == truth[sl]).mean(1), (said != clean_said).mean(1)
            else:
                correct, changed = (r.pred == lab).astype(float), (r.pred != clean.pred).astype(float)
            rows.append(
                pd.DataFrame(
                    {
                        "degradation": kind,
                        "level": level,
                        "image": np.arange(sl.start, sl.stop),
                        "label": lab,
                        "pred": r.pred,
                        "clean_pred": clean.pred,
                        "confidence": r.prob.max(1),
                        "p_original": r.prob[np.arange(len(lab)), lab],
                        "correct": correct,
                        "changed": changed,
                        "rank_corr_top": rank_correlation(r.raw_top, clean.raw_top),
                        "rank_corr_original": rank_correlation(r.raw_original, clean.raw_original),
                    }
                )
            )
            if progress is not None:
                progress.update(sl.stop - sl.start)
    return pd.concat(rows, ignore_index=True)


def summarise(per_image: pd.DataFrame) -> pd.DataFrame:
    """Per degradation and level: accuracy, share of changed predictions, mean confidence and rank correlations."""
    g = per_image.groupby(["degradation", "level"], sort=False)
    table = g.agg(
        n=("image", "size"),
        accuracy=("correct", "mean"),
        prediction_changed=("changed", "mean"),
        mean_confidence=("confidence", "mean"),
        mean_p_original=("p_original", "mean"),
        rank_corr_top=("rank_corr_top", "mean"),
        rank_corr_original=("rank_corr_original", "mean"),
        n_valid_corr=("rank_corr_original", "count"),
    ).reset_index()
    return table
