"""Sanity checks of maps under model-parameter randomisation (Adebayo et al. 2018).

* :func:`parameterised_layers` — the modules that own weights, in forward (registration) order.
* :func:`cascading_models` — from the output layer down to the first, each step re-initialises one
  more layer (``reset_parameters``, seeded) on top of those already randomised; the label of a step
  is the deepest layer randomised so far, ``all`` for the fully randomised model.
* :func:`independent_models` — one layer re-initialised at a time, the rest kept trained.
* :func:`spearman_rows` / :func:`ssim_rows` — similarity of an original map with its counterpart,
  for many pairs at once. Spearman uses average ranks for ties (as SciPy and Quantus), all rows ranked
  by one sort (of packed integer keys for float32 maps); SSIM is scikit-image's ``structural_similarity`` (7×7 uniform window, sample
  covariance, K1 = 0.01, K2 = 0.03, data range = max − min over both maps, mean over the window
  positions inside the image), the local moments of all pairs filtered in one call per axis.

A map that keeps a high similarity after full randomisation does not depend on what the model
learned (a flag in the study's sanity table).
"""

from __future__ import annotations

import copy
from typing import Iterator

import numpy as np
import torch
from scipy.ndimage import uniform_filter1d
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


def _sorted_positions(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(M, P) → (flat positions, row offsets included, in ascending order of value; boolean "a new value
    starts here") per row.

    float32 rows are sorted as one int64 key per element (order-preserving integer image of the value
    in the high 32 bits, the position in the low ones, both written straight into the key's halves): a
    plain sort, about twice as fast as an argsort, that gives the order and the equal-value runs at once.
    Other dtypes use an argsort."""
    m, p = a.shape
    if a.dtype == np.float32 and np.little_endian and p < 2**31:
        bits = (a + np.float32(0)).view(np.int32)  # −0.0 + 0 = +0.0: equal values, equal bits
        keys = np.empty((m, p), np.int64)
        halves = keys.view(np.int32).reshape(m, p, 2)  # [low, high] per key
        np.bitwise_xor(bits, (bits >> 31) & 0x7FFFFFFF, out=halves[..., 1])  # signed-integer order = float order
        halves[..., 0] = np.arange(p, dtype=np.int32)
        keys.sort(axis=1)
        order, value = halves[..., 0], halves[..., 1]
    else:
        order = np.argsort(a, axis=1)
        value = np.take_along_axis(a, order, 1)
    starts = np.ones((m, p), bool)
    np.not_equal(value[:, 1:], value[:, :-1], out=starts[:, 1:])  # a new tie group (every row starts one)
    return order + (np.arange(m, dtype=np.int64) * p)[:, None], starts


def _twice_centred_ranks(starts: np.ndarray) -> np.ndarray:
    """2 × average rank − (P + 1) at each sorted position (float64, exact: integers), from the tie-group
    starts of :func:`_sorted_positions`: a (P,) row shared by every row when no value repeats, else (M, P)
    with only the tied positions rewritten (each group's first position + its size − P)."""
    m, p = starts.shape
    alone = np.empty_like(starts)  # a group of one: it starts here and the next position starts another
    np.logical_and(starts[:, :-1], starts[:, 1:], out=alone[:, :-1])
    alone[:, -1] = starts[:, -1]
    row = np.arange(1 - p, p, 2, dtype=np.float64)
    if alone.all():
        return row
    out = np.tile(row, (m, 1))
    tied = np.flatnonzero(~alone)
    first = np.flatnonzero(starts.ravel()[tied])  # where each tie group starts, within ``tied``
    size = np.diff(first, append=len(tied))
    out.ravel()[tied] = np.repeat((2 * (tied[first] % p) + size - p).astype(np.float64), size)
    return out


def _nan_rows(*arrays: np.ndarray) -> np.ndarray:
    return np.logical_or.reduce([np.isnan(x).any(1) if x.dtype.kind == "f" else np.zeros(len(x), bool) for x in arrays])


def average_ranks(a: np.ndarray) -> np.ndarray:
    """(M, P) → 1-based float64 ranks per row, ties given their average rank (``scipy.stats.rankdata``
    along rows; a row with a NaN is all NaN, as SciPy's ``nan_policy="propagate"``)."""
    a = np.asarray(a)
    m, p = a.shape
    order, starts = _sorted_positions(a)
    ranks = np.empty(m * p)
    ranks[order.ravel()] = np.broadcast_to((_twice_centred_ranks(starts) + (p + 1)) / 2, (m, p)).ravel()
    ranks = ranks.reshape(m, p)
    ranks[_nan_rows(a)] = np.nan
    return ranks


def spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Spearman ρ of each row pair of (M, P) arrays (average ranks for ties; NaN for a constant row).

    With centred doubled ranks R = 2·rank − (P + 1) (integers, exact in float64), ρ = ΣRaRb / √(ΣRa² ΣRb²).
    Both sums of squares are taken in sorted order, so only ``a``'s ranks are scattered back to their
    positions and then read in ``b``'s sorted order: one scatter and one gather besides the two sorts."""
    a, b = np.asarray(a), np.asarray(b)
    m, p = a.shape
    order_a, starts_a = _sorted_positions(a)
    order_b, starts_b = _sorted_positions(b)
    ra, rb = _twice_centred_ranks(starts_a), _twice_centred_ranks(starts_b)
    ranks_a = np.empty(m * p)
    ranks_a[order_a.ravel()] = np.broadcast_to(ra, (m, p)).ravel()
    gathered = ranks_a.take(order_b)
    num = gathered @ rb if rb.ndim == 1 else np.einsum("ij,ij->i", gathered, rb)
    ssa, ssb = (np.broadcast_to(np.einsum("...j,...j->...", r, r), (m,)) for r in (ra, rb))
    denom = np.sqrt(ssa * ssb)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), np.nan)
    rho[_nan_rows(a, b)] = np.nan
    return rho


def ssim_rows(a: np.ndarray, b: np.ndarray, win_size: int = 7, k1: float = 0.01, k2: float = 0.03) -> np.ndarray:
    """SSIM of each pair of (M, H, W) maps, as scikit-image's ``structural_similarity`` with
    ``data_range`` = max − min over both maps of the pair: uniform win×win windows, sample covariance,
    mean over the window positions inside the image, computed in the maps' float type as scikit-image
    does (float32 stays float32). The local moments of every pair are filtered in one call per axis
    with the same separable uniform filter, the positions that are not averaged dropped after the
    first axis (no loop over pairs)."""
    dtype = np.result_type(np.asarray(a).dtype, np.asarray(b).dtype, np.float32)
    if dtype not in (np.float32, np.float64):
        dtype = np.dtype(np.float64)
    x, y = np.asarray(a, dtype), np.asarray(b, dtype)
    if x.ndim != 3 or min(x.shape[-2:]) < win_size:
        raise ValueError(f"SSIM needs (M, H, W) maps of at least {win_size}×{win_size}, got {x.shape}")
    m = len(x)
    hi = np.maximum(x.reshape(m, -1).max(1), y.reshape(m, -1).max(1)).astype(np.float64)
    lo = np.minimum(x.reshape(m, -1).min(1), y.reshape(m, -1).min(1)).astype(np.float64)
    data_range = (hi - lo)[:, None, None]
    c1, c2 = ((k1 * data_range) ** 2).astype(dtype), ((k2 * data_range) ** 2).astype(dtype)
    pad = (win_size - 1) // 2
    inner = slice(pad, -pad) if pad else slice(None)
    # SSIM needs vx + vy only, so x² + y² is filtered as one moment (four filtered arrays, not five)
    moments = np.stack([x, y, x * x + y * y, x * y])
    moments = uniform_filter1d(moments, win_size, axis=-1, mode="reflect")[..., inner]
    ux, uy, uss, uxy = uniform_filter1d(moments, win_size, axis=-2, mode="reflect")[..., inner, :]
    n = win_size * win_size
    cov_norm = n / (n - 1)
    uxuy = ux * uy
    a1, a2 = 2 * uxuy + c1, 2 * cov_norm * (uxy - uxuy) + c2
    b1, b2 = ux * ux + uy * uy + c1, cov_norm * (uss - ux * ux - uy * uy) + c2
    s = (a1 * a2) / (b1 * b2)
    return s.reshape(m, -1).mean(1, dtype=np.float64)


__all__ = ["cascading_models", "independent_models", "parameterised_layers", "randomised", "spearman_rows", "ssim_rows"]
