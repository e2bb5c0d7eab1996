"""Grad-CAM (Selvaraju et al.; seed 000 §5, seed 004 §II-A) at every requested layer at once.

For layer activations A (N, K, *s): α_k = mean over positions of ∂y_c/∂A_k, and the map is
ReLU(Σ_k α_k A_k), upsampled to the input. One forward pass and one backward pass serve all
layers; the backward pass stops at the earliest requested layer and computes no weight gradients.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
from torch import nn

from .base import Attribution, capture, channel_weighted_sum, fast_layout, spatial_sum, target_grad, upsample_layers
from .registry import Method


def layer_cams(
    activations: Sequence[torch.Tensor], grads: Sequence[torch.Tensor], size: Sequence[int]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM of every layer from its activations and gradients → (maps, raw), (N, L, *size).

    Per layer, Σ_k (Σ_positions ∂y/∂A^k) A^k is one batched matrix product read in place from the
    activation (no copy of activations or gradients, in whichever memory layout they have). Only the
    small layer-resolution maps are grouped: consecutive layers of equal map shape (the four layers
    of the 1-D CNN) share the 1/positions scaling and one interpolation each for the raw maps and
    for the maps after the ReLU. Written for few tensor operations: on a small model this
    arithmetic is what Grad-CAM adds to one forward and one backward pass.
    """
    n, raw, maps, start = activations[0].shape[0], [], [], 0
    with torch.no_grad():
        cams = [channel_weighted_sum(a, spatial_sum(g), flat=True) for a, g in zip(activations, grads)]  # (N, 1, P)
        while start < len(cams):
            shape, stop = activations[start].shape[2:], start + 1
            while stop < len(cams) and activations[stop].shape[2:] == shape:
                stop += 1
            cam = torch.cat(cams[start:stop], 1).div_(math.prod(shape)).view(n, stop - start, *shape)  # (N, run, *s)
            raw.append(upsample_layers(cam, size))
            maps.append(upsample_layers(cam.clamp(min=0), size))
            start = stop
    if len(raw) == 1:
        return maps[0], raw[0]
    return torch.cat(maps, 1), torch.cat(raw, 1)


def gradcam(model: nn.Module, x: torch.Tensor, target: torch.Tensor, layers: Sequence[str]) -> Attribution:
    with torch.enable_grad():
        x = fast_layout(x.detach()).requires_grad_(True)  # keeps a graph even when the weights are frozen
        with capture(model, layers) as acts:
            logits = model(x)
        activations = [acts[name] for name in layers]
        grads = torch.autograd.grad(logits, activations, target_grad(logits, target))
    maps, raw = layer_cams(activations, grads, x.shape[2:])
    return Attribution(maps=maps, layers=list(layers), raw=raw)


METHOD = Method(
    name="gradcam",
    fn=gradcam,
    layered=True,
    caption=(
        "Grad-CAM at every explained layer (by default the rectified output of each conv layer; the "
        "title says which, model.explain_layers), one correctly classified test example per class; "
        "rows = classes, columns = input then layers 1..L (seed 000 Figs 24–26)"
    ),
    params=("target",),
)
