"""Localisation of maps against ground-truth masks, per image and layer, batched.

Maps are (N, L, *spatial) (L layers, as in the explanation files), masks (N, *spatial) booleans.
Every function returns an (N, L) float64 array; an image with an empty mask gets NaN (left out of
means and intervals). Ranking rule: positions are ordered by decreasing value; ties are broken by
position (row-major order), the same rule for every method, so a map that ties many positions at
zero is not rewarded by its tie order.

* :func:`pointing_game` — 1 when a position of the map's maximum lies inside the mask (any of them
  when several tie), as Quantus' ``PointingGame``.
* :func:`relevance_mass` — share of the *positive* attribution inside the mask (energy-based pointing
  game); equals Quantus' ``RelevanceMassAccuracy`` on non-negative maps (Quantus sums signed values).
* :func:`rank_accuracy` — share of the top-K positions inside the mask, K = mask size
  (Quantus' ``RelevanceRankAccuracy``).
* :func:`topk_iou` — intersection over union of the top ``percent`` % positions with the mask (Quantus'
  ``TopKIntersection`` reports |top-k ∩ mask| / k instead; :func:`topk_intersection` is that).
"""

from __future__ import annotations

import numpy as np
import torch


def _flat(maps, masks) -> tuple[torch.Tensor, torch.Tensor]:
    maps = torch.as_tensor(np.asarray(maps), dtype=torch.float64)
    masks = torch.as_tensor(np.asarray(masks)).bool()
    if maps.ndim < 3 or tuple(maps.shape[2:]) != tuple(masks.shape[1:]) or maps.shape[0] != masks.shape[0]:
        raise ValueError(
            f"maps (N, L, *spatial) and masks (N, *spatial) disagree: {tuple(maps.shape)} vs {tuple(masks.shape)}"
        )
    return maps.flatten(2), masks.flatten(1).unsqueeze(1).expand(-1, maps.shape[1], -1)


def _nan_empty(values: torch.Tensor, masks: torch.Tensor) -> np.ndarray:
    out = values.double().numpy().copy()
    out[(masks.sum(-1) == 0).numpy()] = np.nan
    return out


def ranks(maps: torch.Tensor) -> torch.Tensor:
    """(N, L, P) → rank of each position (0 = most salient), ties by position."""
    order = torch.sort(maps, dim=-1, descending=True, stable=True).indices
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(maps.shape[-1]).expand_as(order))
    return rank


def pointing_game(maps, masks) -> np.ndarray:
    a, m = _flat(maps, masks)
    hit = ((a == a.amax(-1, keepdim=True)) & m).any(-1)
    return _nan_empty(hit, m)


def relevance_mass(maps, masks) -> np.ndarray:
    a, m = _flat(maps, masks)
    pos = a.clamp_min(0)
    total = pos.sum(-1)
    share = (pos * m).sum(-1) / total.clamp_min(1e-300)
    share[total <= 0] = float("nan")
    return _nan_empty(share, m)


def rank_accuracy(maps, masks) -> np.ndarray:
    a, m = _flat(maps, masks)
    k = m.sum(-1, keepdim=True)
    top = ranks(a) < k
    return _nan_empty((top & m).sum(-1) / k.squeeze(-1).clamp_min(1), m)


def _top_percent(a: torch.Tensor, percent: float) -> torch.Tensor:
    k = max(1, int(round(a.shape[-1] * percent / 100.0)))
    return ranks(a) < k


def topk_iou(maps, masks, percent: float) -> np.ndarray:
    a, m = _flat(maps, masks)
    top = _top_percent(a, percent)
    return _nan_empty((top & m).sum(-1) / (top | m).sum(-1).clamp_min(1), m)


def topk_intersection(maps, masks, k: int) -> np.ndarray:
    """|top-k ∩ mask| / k for a count ``k`` of positions (Quantus' TopKIntersection)."""
    a, m = _flat(maps, masks)
    top = ranks(a) < k
    return _nan_empty((top & m).sum(-1) / float(k), m)


def localisation_scores(maps, masks, *, topk_percent: float, distractor=None) -> dict[str, np.ndarray]:
    """All localisation scores, each (N, L); ``distractor_share`` (relevance mass on a class-independent
    distractor mask, lower is better) when ``distractor`` masks are given."""
    out = {
        "pointing_game": pointing_game(maps, masks),
        "relevance_mass": relevance_mass(maps, masks),
        "rank_accuracy": rank_accuracy(maps, masks),
        "topk_iou": topk_iou(maps, masks, topk_percent),
    }
    if distractor is not None:
        out["distractor_share"] = relevance_mass(maps, distractor)
    return out


__all__ = [
    "localisation_scores",
    "pointing_game",
    "rank_accuracy",
    "relevance_mass",
    "topk_intersection",
    "topk_iou",
    "ranks",
]
