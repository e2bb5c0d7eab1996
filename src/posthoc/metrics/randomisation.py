"""Sanity checks of maps under model-parameter randomisation (Adebayo et al. 2018).

* :func:`parameterised_layers` — the modules that own weights, in forward (registration) order.
* :func:`cascading_models` — from the output layer down to the first, each step re-initialises one
  more layer (``reset_parameters``, seeded) on top of those already randomised; the label of a step
  is the deepest layer randomised so far, ``all`` for the fully randomised model.
* :func:`independent_models` — one layer re-initialised at a time, the rest kept trained.
* :func:`spearman_rows` / :func:`ssim_rows` — similarity of an original map with its counterpart,
  for many pairs at once. Spearman uses average ranks for ties (as SciPy and Quantus), computed for all
  rows in one call; SSIM is
  scikit-image's ``structural_similarity`` (7×7 uniform window, sample covariance, K1 = 0.01,
  K2 = 0.03, data range = max − min over both maps, mean over the window positions inside the
  image), with the local moments of all pairs filtered in one call.

A map that keeps a high similarity after full randomisation does not depend on what the model
learned (a flag in the study's sanity table).
"""

from __future__ import annotations

import copy
from typing import Iterator

import numpy as np
import torch
from scipy.ndimage import uniform_filter
from scipy.stats import rankdata
from torch import nn


def parameterised_layers(model: nn.Module) -> list[str]:
    """Names of the modules with their own weights and a ``reset_parameters``, in forward order."""
    return [
        name
        for name, m in model.named_modules()
        if name and hasattr(m, "reset_parameters") and any(True for _ in m.parameters(recurse=False))
    ]


def randomised(model: nn.Module, names: list[str], seed: int) -> nn.Module:
    """A copy of ``model`` with the named modules re-initialised under ``seed`` (the original is untouched)."""
    out = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for name in names:
            out.get_submodule(name).reset_parameters()
    return out.eval()


def cascading_models(model: nn.Module, seed: int, layers: list[str] | None = None) -> Iterator[tuple[str, nn.Module]]:
    """(label, model) from the top layer down; the last label is ``all`` (every layer randomised)."""
    names = layers or parameterised_layers(model)
    top_down = names[::-1]
    for depth in range(1, len(top_down) + 1):
        label = "all" if depth == len(top_down) else top_down[depth - 1]
        yield label, randomised(model, top_down[:depth], seed)


def independent_models(model: nn.Module, seed: int, layers: list[str] | None = None) -> Iterator[tuple[str, nn.Module]]:
    for name in layers or parameterised_layers(model):
        yield name, randomised(model, [name], seed)


def average_ranks(a: torch.Tensor) -> torch.Tensor:
    """(M, P) → 1-based ranks per row, ties given their average rank: ``scipy.stats.rankdata`` along rows
    (one vectorised call for every row; it measured faster than a sort-and-search in torch)."""
    return torch.from_numpy(rankdata(a.numpy(), axis=1).astype(np.float64))


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman ρ of each row pair of (M, P) arrays (average ranks for ties; NaN for a constant row)."""
    ra = average_ranks(torch.as_tensor(np.asarray(a), dtype=torch.float64))
    rb = average_ranks(torch.as_tensor(np.asarray(b), dtype=torch.float64))
    ra -= ra.mean(-1, keepdim=True)
    rb -= rb.mean(-1, keepdim=True)
    denom = torch.sqrt((ra * ra).sum(-1) * (rb * rb).sum(-1))
    rho = (ra * rb).sum(-1) / torch.where(denom > 0, denom, torch.ones_like(denom))
    return torch.where(denom > 0, rho, torch.full_like(rho, float("nan"))).numpy()


def ssim_rows(a: np.ndarray, b: np.ndarray, win_size: int = 7, k1: float = 0.01, k2: float = 0.03) -> np.ndarray:
    """SSIM of each pair of (M, H, W) maps, as scikit-image's ``structural_similarity`` with
    ``data_range`` = max − min over both maps of the pair: the same uniform filter, applied once to
    the five local moments of every pair (no loop over pairs)."""
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if x.ndim != 3 or min(x.shape[-2:]) < win_size:
        raise ValueError(f"SSIM needs (M, H, W) maps of at least {win_size}×{win_size}, got {x.shape}")
    both = np.concatenate([x.reshape(len(x), -1), y.reshape(len(y), -1)], 1)
    data_range = (both.max(1) - both.min(1))[:, None, None]
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    means = uniform_filter(np.stack([x, y, x * x, y * y, x * y]), size=(1, 1, win_size, win_size), mode="reflect")
    pad = (win_size - 1) // 2
    ux, uy, uxx, uyy, uxy = means[..., pad:-pad, pad:-pad]  # the region skimage averages over
    cov_norm = win_size * win_size / (win_size * win_size - 1)
    vx, vy, vxy = cov_norm * (uxx - ux * ux), cov_norm * (uyy - uy * uy), cov_norm * (uxy - ux * uy)
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux**2 + uy**2 + c1) * (vx + vy + c2))
    return s.reshape(len(x), -1).mean(1)


__all__ = ["cascading_models", "independent_models", "parameterised_layers", "randomised", "spearman_rows", "ssim_rows"]
