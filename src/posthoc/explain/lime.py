"""LIME for images and signals (Ribeiro et al. 2016; seed 001 ch. 2), batched over samples and images.

1. Superpixels: scikit-image ``quickshift`` (``kernel_size``, ``max_dist``, ``ratio``) on a display
   version of each image (every channel min-max scaled to [0, 1], grey images repeated to RGB);
   1-D signals are cut into contiguous segments of ``segment_length`` positions.
2. ``n_samples`` subsets of superpixels, each kept with probability ``keep_probability``
   (the first sample keeps all, as the ``lime`` package does); the others are set to ``fill`` in
   normalised space (0 = the dataset mean). Masked inputs of all images travel in one stream of
   ``batch_size`` forward samples; the target's probability is recorded (softmax, or for a multi-label
   model the target label's sigmoid: :mod:`posthoc.tasks`).
3. Sample weights from the cosine distance d between the indicator vector and the all-ones vector:
   w = sqrt(exp(−d² / kernel_width²)) (the ``lime`` package's kernel).
4. A weighted ridge regression (scikit-learn's model, solved in closed form; ``alpha: 0`` =
   ordinary least squares) of the probability on the indicators; its coefficients are the
   superpixel weights, painted back onto the pixels for the contract map.

Sampling uses one generator seeded with ``seed`` per image, so a result does not depend on which
other images share its batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn

from .. import tasks
from .base import Attribution, fast_layout
from .occlusion import forward_chunks
from .registry import Method


def display_images(x: torch.Tensor) -> np.ndarray:
    """Normalised (N, C, H, W) → float64 (N, H, W, 3) in [0, 1], each channel min-max scaled."""
    a = x.detach().to("cpu", torch.float64)
    lo, hi = a.amin(dim=(2, 3), keepdim=True), a.amax(dim=(2, 3), keepdim=True)
    a = torch.where(hi > lo, (a - lo) / (hi - lo).clamp_min(1e-12), torch.zeros_like(a))
    a = a.permute(0, 2, 3, 1).numpy()
    return np.repeat(a, 3, axis=3) if a.shape[3] == 1 else a


def quickshift_segments(
    images: np.ndarray, kernel_size: float, max_dist: float, ratio: float, seed: int = 0
) -> np.ndarray:
    """(N, H, W, C) display images in [0, 1] → int64 (N, H, W) labels 0..K_i−1 per image."""
    from skimage.segmentation import quickshift

    out = np.empty(images.shape[:3], dtype=np.int64)
    for i, img in enumerate(images):  # quickshift works on one image at a time
        labels = quickshift(
            img,
            kernel_size=kernel_size,
            max_dist=max_dist,
            ratio=ratio,
            rng=seed,
            convert2lab=img.shape[-1] == 3,
            channel_axis=-1,
        )
        out[i] = np.unique(labels, return_inverse=True)[1].reshape(labels.shape)
    return out


def contiguous_segments(n: int, length: int, segment_length: int) -> np.ndarray:
    """(N, L) labels: position l belongs to segment l // segment_length."""
    return np.broadcast_to(np.arange(length) // max(1, segment_length), (n, length)).astype(np.int64).copy()


def segment(
    x: torch.Tensor,
    kernel_size: float = 4,
    max_dist: float = 200,
    ratio: float = 0.2,
    segment_length: int = 2,
    seed: int = 0,
) -> np.ndarray:
    """Superpixels of normalised inputs: quickshift for images, contiguous segments for signals."""
    if x.ndim == 3:
        return contiguous_segments(x.shape[0], x.shape[2], segment_length)
    return quickshift_segments(display_images(x), kernel_size, max_dist, ratio, seed)


def cosine_kernel(z: np.ndarray, kernel_width: float) -> np.ndarray:
    """Weights of indicator rows z (S, K): d = cosine distance to all-ones, w = sqrt(exp(−d²/width²))."""
    on = z.sum(axis=-1)
    d = 1.0 - np.sqrt(on / z.shape[-1])  # cos(z, 1) = |z|₁ / (sqrt(|z|₁) sqrt(K)); empty z → d = 1
    return np.sqrt(np.exp(-(d**2) / kernel_width**2))


def draw_samples(n_segments: int, n_samples: int, keep_probability: float, seed: int) -> np.ndarray:
    """Bool (n_samples, n_segments) superpixel subsets; the first keeps every superpixel."""
    g = torch.Generator().manual_seed(int(seed))
    z = torch.rand(n_samples, n_segments, generator=g, dtype=torch.float64) < keep_probability
    z[0] = True
    return z.numpy()


@torch.inference_mode()
def score_samples(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    segments: np.ndarray,
    samples: Sequence[np.ndarray],
    fill: float = 0.0,
    batch_size: int = 256,
    task: str | None = None,
) -> np.ndarray:
    """Target's probability (as ``task`` makes it) of every masked input: (N, S), all images in one batched stream.

    ``segments`` (N, *spatial) labels; ``samples[i]`` (S, K_i) bool, superpixel k of image i kept
    where ``samples[i][s, k]``.
    """
    model.eval()
    x = fast_layout(x)  # masked copies inherit the layout: channels-last images on the CPU
    n, s = x.shape[0], samples[0].shape[0]
    k_max = max(z.shape[1] for z in samples)
    z_all = torch.zeros(n, s, k_max, dtype=torch.bool, device=x.device)
    for i, z in enumerate(samples):
        z_all[i, :, : z.shape[1]] = torch.as_tensor(z, device=x.device)
    z_all = z_all.view(n * s, k_max)
    seg = torch.as_tensor(segments, device=x.device).reshape(n, -1)
    target = torch.as_tensor(target, dtype=torch.long, device=x.device)
    fill_t = torch.as_tensor(fill, dtype=x.dtype, device=x.device)
    logits = []
    for start, stop in forward_chunks(n * s, x[0].numel(), batch_size):
        t = torch.arange(start, stop, device=x.device)
        image = t // s
        keep = torch.gather(z_all[t], 1, seg[image]).view(len(t), 1, *x.shape[2:])
        inputs = torch.where(keep, x[image], fill_t)
        logits += [model(inputs[b : b + batch_size]) for b in range(0, len(t), batch_size)]
    p = tasks.get(task).probabilities(torch.cat(logits).double()).view(n, s, -1)
    out = p.gather(2, target.view(n, 1, 1).expand(n, s, 1))
    return out.view(n, s).cpu().numpy()


def fit_linear(z: np.ndarray, y: np.ndarray, weights: np.ndarray, alpha: float = 1.0):
    """Weighted (ridge) regression of y on indicators z → (coefficients, intercept, weighted R²).

    The model of scikit-learn's ``Ridge(alpha)`` (``LinearRegression`` for ``alpha: 0``) with
    ``sample_weight``, solved in closed form: centre z and y on their weighted means, then
    (Zcᵀ W Zc + αI) β = Zcᵀ W yc (least squares, minimum norm, when α = 0), intercept ȳ − z̄ β;
    R² = 1 − Σ w (y − ŷ)² / Σ w (y − ȳ)² (1 for a perfect fit of a constant y, as scikit-learn).
    ``y`` (S,) for one image or (S, m) for m images sharing the samples z: one solve for all m.
    """
    zf = z.astype(np.float64)
    yf = np.asarray(y, dtype=np.float64)
    y2 = yf.reshape(len(yf), -1)
    w = np.asarray(weights, dtype=np.float64)
    z_mean = w @ zf / w.sum()
    y_mean = w @ y2 / w.sum()
    zc, yc = zf - z_mean, y2 - y_mean
    if alpha == 0:
        root = np.sqrt(w)[:, None]
        coef = np.linalg.lstsq(zc * root, yc * root, rcond=None)[0]  # (K, m)
    else:
        zw = zc * w[:, None]
        coef = np.linalg.solve(zw.T @ zc + alpha * np.eye(zf.shape[1]), zw.T @ yc)
    intercept = y_mean - z_mean @ coef
    residual, total = w @ (yc - zc @ coef) ** 2, w @ yc**2
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(total > 0, 1.0 - residual / total, np.where(residual > 0, 0.0, 1.0))
    if yf.ndim == 1:
        return coef[:, 0], float(intercept[0]), float(r2[0])
    return coef.T, intercept, r2


@dataclass
class LimeResult:
    segments: np.ndarray  # (N, *spatial) superpixel labels
    samples: list[np.ndarray]  # per image (S, K_i) bool
    scores: np.ndarray  # (N, S) target's probability of each masked input
    coef: list[np.ndarray]  # per image (K_i,) superpixel weights
    intercept: np.ndarray  # (N,)
    r2: np.ndarray  # (N,) weighted R² of the local linear model (its fidelity)

    def paint(self) -> np.ndarray:
        """(N, *spatial) float32: each position carries its superpixel's weight."""
        return np.stack([c[s] for c, s in zip(self.coef, self.segments)]).astype(np.float32)

    def top_superpixels(self, i: int, k: int) -> np.ndarray:
        """Labels of image i's k superpixels with the largest (positive-first) weights."""
        return np.argsort(-self.coef[i], kind="stable")[:k]


def explain_segments(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    segments: np.ndarray,
    *,
    n_samples: int = 1000,
    keep_probability: float = 0.5,
    kernel_width: float = 0.25,
    alpha: float = 1.0,
    fill: float = 0.0,
    batch_size: int = 256,
    seed: int = 0,
    task: str | None = None,
) -> LimeResult:
    """LIME on given superpixels (steps 2–4 of the module docstring).

    Images with the same number of superpixels draw the same subsets (one generator per image, same
    seed), so each such group is fitted at once: one multi-output regression, one column per image.
    """
    n = len(segments)
    counts = segments.reshape(n, -1).max(1) + 1
    groups = {int(k): np.flatnonzero(counts == k) for k in np.unique(counts)}
    drawn = {k: draw_samples(k, n_samples, keep_probability, seed) for k in groups}
    samples = [drawn[int(k)] for k in counts]
    scores = score_samples(model, x, target, segments, samples, fill, batch_size, task=task)
    coef, intercept, r2 = [None] * n, np.zeros(n), np.zeros(n)
    for k, idx in groups.items():
        z = drawn[k]
        c, b, r = fit_linear(z, scores[idx].T, cosine_kernel(z, kernel_width), alpha)
        for j, i in enumerate(idx):
            coef[i], intercept[i], r2[i] = c[j], b[j], r[j]
    return LimeResult(segments=segments, samples=samples, scores=scores, coef=coef, intercept=intercept, r2=r2)


def lime(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    layers: Sequence[str] = (),
    *,
    n_samples: int = 1000,
    keep_probability: float = 0.5,
    kernel_width: float = 0.25,
    kernel_size: float = 4,
    max_dist: float = 200,
    ratio: float = 0.2,
    segment_length: int = 2,
    alpha: float = 1.0,
    fill: float = 0.0,
    batch_size: int = 256,
    seed: int = 0,
    task: str | None = None,
) -> Attribution:
    """Painted superpixel weights at input resolution (layer-less: ``layers == ["input"]``); ``task``: the
    model's :mod:`posthoc.tasks` name, which decides the probability fitted."""
    segments = segment(x, kernel_size, max_dist, ratio, segment_length, seed)
    result = explain_segments(
        model,
        x.detach(),
        target,
        segments,
        n_samples=n_samples,
        keep_probability=keep_probability,
        kernel_width=kernel_width,
        alpha=alpha,
        fill=fill,
        batch_size=batch_size,
        seed=seed,
        task=task,
    )
    return Attribution(maps=torch.from_numpy(result.paint()).unsqueeze(1), layers=["input"])


METHOD = Method(
    name="lime",
    fn=lime,
    layered=False,
    signed=True,
    caption=(
        "LIME: each superpixel's weight in a weighted linear model of the target's probability "
        "(softmax; multi-label: the label's sigmoid) on masked inputs (seed 001 ch. 2), painted on its "
        "pixels; rows = classes, columns = input then the map"
    ),
    params=(
        "target",
        "n_eval",
        "amp",
        "n_samples",
        "keep_probability",
        "kernel_width",
        "kernel_size",
        "max_dist",
        "ratio",
        "segment_length",
        "alpha",
        "fill",
        "batch_size",
        "seed",
    ),
    torchscript=True,
)
