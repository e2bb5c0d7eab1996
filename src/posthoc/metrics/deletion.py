"""Perturbation curves of maps: keep-top-k drop/increase per image, deletion and insertion (MoRF/LeRF).

Ordering rule (the same everywhere): positions are ranked by decreasing map value; ties (e.g. the
many zeros a final ReLU leaves) are broken by the pre-ReLU map where a method has one, then by
position. A position is removed in all its channels at once, set to ``fill`` (normalised space;
0 = the dataset mean).

* :func:`keep_top_scores` — p (original) and p′ (only the top-k % kept) per image and layer; from them
  :func:`drop_increase_rows` gives drop % = max(0, p − p′)/p and the increase indicator
  p′ > p + ``tolerance``. The tolerance exists because p is the softmax (or sigmoid) of float32 logits: near
  saturation (p ≈ 1) a float32 recomputation moves p by ~1e-7 and a "gain" of that size is noise.
* :func:`perturbation_curves` — target probability after removing (``deletion``: most relevant first,
  MoRF; ``deletion_lerf``: least relevant first) or inserting (``insertion``: most relevant first into
  an all-``fill`` input) a growing share of positions, at ``steps`` + 1 equally spaced fractions
  (Petsiuk et al. 2018); :func:`curve_auc` is the area under such a curve (trapezoid over [0, 1]).
  With one fill value, LeRF deletion at k % is insertion at (100 − k) %: the same inputs, so that curve
  is the insertion curve mirrored (not recomputed) when the fractions are symmetric.

The target's probability is the one the model's ``task`` makes (:mod:`posthoc.tasks`): the softmax, or for a
multi-label model the target label's sigmoid.

Everything is batched: all layers, curves and steps of a chunk of images go through the model together,
and each distinct input only once (the unperturbed image and the all-``fill`` input are shared).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from .. import tasks
from ..explain.base import fast_layout

CURVES = ("deletion", "deletion_lerf", "insertion")


def position_ranks(maps: torch.Tensor, raw: torch.Tensor | None = None) -> torch.Tensor:
    """(M, *s) maps → (M, P) rank of each position (0 = most salient): value, then ``raw``, then position."""
    flat = maps.reshape(maps.shape[0], -1)
    order = torch.arange(flat.shape[1]).expand(flat.shape[0], -1)
    if raw is not None:
        order = torch.sort(raw.reshape(raw.shape[0], -1), dim=1, descending=True, stable=True).indices
    values = torch.gather(flat, 1, order)
    order = torch.gather(order, 1, torch.sort(values, dim=1, descending=True, stable=True).indices)
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(flat.shape[1]).expand_as(order))
    return rank


def _probs(
    model: nn.Module, batch: torch.Tensor, target: torch.Tensor, batch_size: int, task: str | None = None
) -> torch.Tensor:
    spec, out = tasks.get(task), []
    for s in range(0, len(batch), batch_size):
        logits = model(fast_layout(batch[s : s + batch_size]))  # channels-last on the CPU: faster convolutions
        out.append(spec.probabilities(logits.double()).gather(1, target[s : s + batch_size].view(-1, 1)).squeeze(1))
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)


def _present(curve: str, counts: torch.Tensor, n_pos: int) -> torch.Tensor:
    """Positions still (deletion) or already (insertion) holding the input at each step."""
    if curve in ("deletion", "deletion_lerf"):
        return n_pos - counts
    if curve == "insertion":
        return counts
    raise ValueError(f"unknown curve {curve!r}; choose from {CURVES}")


@torch.inference_mode()
def perturbation_curves(
    model: nn.Module,
    x: torch.Tensor,
    maps: torch.Tensor,
    target: torch.Tensor,
    *,
    fractions: np.ndarray,
    fill: float,
    curves=CURVES,
    raw: torch.Tensor | None = None,
    batch_size: int,
    device="cpu",
    task: str | None = None,
) -> dict[str, np.ndarray]:
    """{curve: (N, L, len(fractions)) target probabilities}; ``maps`` (N, L, *spatial), ``x`` (N, C, *spatial);
    probabilities of the model's ``task``.

    Only distinct inputs go through the model: a step where every position holds the input is the
    image itself (one pass per image, shared by all layers and curves), a step where none does is the
    all-``fill`` input (one pass in all); the other steps of every curve, layer and image of a chunk are
    stacked into one batch."""
    model.eval()
    n, n_layers = maps.shape[:2]
    n_pos = int(np.prod(maps.shape[2:]))
    frac = torch.as_tensor(np.asarray(fractions, np.float64))
    counts = torch.round(frac * n_pos).long()  # positions affected at each step
    target = torch.as_tensor(target, dtype=torch.long)
    out = {c: np.zeros((n, n_layers, len(frac))) for c in curves}
    mirrored = "insertion" in curves and np.allclose(frac.numpy(), 1 - frac.numpy()[::-1])
    computed = [c for c in curves if not (c == "deletion_lerf" and mirrored)]  # LeRF = mirrored insertion
    present = {c: _present(c, counts, n_pos) for c in computed}
    steps = {c: torch.nonzero((present[c] > 0) & (present[c] < n_pos)).flatten() for c in computed}
    n_steps = sum(len(v) for v in steps.values())
    fill_t = torch.as_tensor(fill, dtype=x.dtype, device=device)
    if any(bool((present[c] == 0).any()) for c in computed):  # the all-fill input: one pass for every image
        empty = torch.full((1, *x.shape[1:]), float(fill), dtype=x.dtype, device=device)
        p_empty = tasks.get(task).probabilities(model(fast_layout(empty)).double())[0].cpu()[target].numpy()
    per_chunk = max(1, batch_size // max(1, n_layers * n_steps))
    for start in tqdm(range(0, n, per_chunk), desc="perturbation curves", mininterval=5, disable=n <= per_chunk):
        sl = slice(start, min(start + per_chunk, n))
        xb = x[sl].to(device)
        b = xb.shape[0]
        tb = target[sl].to(device)
        rank = position_ranks(maps[sl].flatten(0, 1), raw[sl].flatten(0, 1) if raw is not None else None)
        rank = rank.view(b, n_layers, 1, n_pos).to(device)
        batches = []
        for curve in computed:
            k = counts[steps[curve]].to(device).view(1, 1, -1, 1)
            if curve == "deletion":
                keep = rank >= k  # the k most relevant are removed
            elif curve == "deletion_lerf":
                keep = rank < n_pos - k  # the k least relevant are removed
            else:
                keep = rank < k  # insertion: only the k most relevant are present
            keep = keep.view(b, n_layers, -1, 1, *xb.shape[2:])
            batches.append(torch.where(keep, xb.view(b, 1, 1, *xb.shape[1:]), fill_t))
        probs = np.zeros((b, n_layers, 0))
        if n_steps:
            probs = _probs(
                model,
                torch.cat(batches, 2).flatten(0, 2),
                tb.repeat_interleave(n_layers * n_steps),
                batch_size,
                task,
            )
            probs = probs.view(b, n_layers, n_steps).cpu().numpy()
        p_full = None
        offset = 0
        for curve in computed:
            idx = steps[curve].numpy()
            out[curve][sl, :, idx] = probs[:, :, offset : offset + len(idx)]
            offset += len(idx)
            if bool((present[curve] == n_pos).any()):
                if p_full is None:
                    p_full = _probs(model, xb, tb, batch_size, task).cpu().numpy()
                out[curve][sl, :, (present[curve] == n_pos).numpy()] = p_full[:, None, None]
            if bool((present[curve] == 0).any()):
                out[curve][sl, :, (present[curve] == 0).numpy()] = p_empty[sl][:, None, None]
    if "deletion_lerf" in curves and mirrored:
        out["deletion_lerf"] = out["insertion"][..., ::-1].copy()
    return out


def curve_auc(curves: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Trapezoid area under (..., S) curves over ``fractions`` in [0, 1]."""
    f = np.asarray(fractions, np.float64)
    return ((curves[..., 1:] + curves[..., :-1]) / 2 * np.diff(f)).sum(-1)


@torch.inference_mode()
def keep_top_scores(
    model: nn.Module,
    x: torch.Tensor,
    maps: torch.Tensor,
    target: torch.Tensor,
    *,
    keep_percent: float,
    fill: float,
    raw: torch.Tensor | None = None,
    batch_size: int,
    device="cpu",
    task: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(p, p_kept): (N,) original and (N, L) top-k-kept target probabilities (float64; softmax, or the label's
    sigmoid for a multi-label ``task``)."""
    model.eval()
    n, n_layers = maps.shape[:2]
    n_pos = int(np.prod(maps.shape[2:]))
    k_keep = max(1, min(n_pos, int(round(n_pos * keep_percent / 100.0))))
    frac = np.array([(n_pos - k_keep) / n_pos])  # remove all but the top k_keep: the rule of drop_increase
    kept = perturbation_curves(
        model,
        x,
        maps,
        target,
        fractions=frac,
        fill=fill,
        curves=("deletion_lerf",),
        raw=raw,
        batch_size=batch_size,
        device=device,
        task=task,
    )["deletion_lerf"][..., 0]
    target = torch.as_tensor(target, dtype=torch.long)
    p = np.concatenate(
        [
            _probs(model, x[s : s + batch_size].to(device), target[s : s + batch_size].to(device), batch_size, task)
            .cpu()
            .numpy()
            for s in range(0, n, batch_size)
        ]
    )
    return p, kept


def drop_increase_rows(p: np.ndarray, p_kept: np.ndarray, *, tolerance: float) -> dict[str, np.ndarray]:
    """Per image and layer: ``drop`` = max(0, p − p′)/p, ``increase`` = p′ > p + tolerance (0/1),
    ``gain`` = p′ − p; plus ``saturated`` (N,): p ≥ 1 − tolerance (no room for a real increase)."""
    p = np.asarray(p, np.float64)[:, None]
    drop = np.clip(p - p_kept, 0, None) / np.clip(p, 1e-12, None)
    return {
        "drop": drop,
        "increase": (p_kept > p + tolerance).astype(np.float64),
        "gain": p_kept - p,
        "saturated": (p[:, 0] >= 1 - tolerance),
    }


__all__ = ["CURVES", "curve_auc", "drop_increase_rows", "keep_top_scores", "perturbation_curves", "position_ranks"]
