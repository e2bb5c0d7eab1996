"""Grad-CAM (Selvaraju et al.; seed 000 §5, seed 004 §II-A) at every requested layer at once.

For layer activations A (N, K, *s): α_k = mean over positions of ∂y_c/∂A_k, and the map is
ReLU(Σ_k α_k A_k), upsampled to the input. One forward pass and one backward pass serve all
layers; the backward pass stops at the earliest requested layer and computes no weight gradients.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import (Attribution, capture, channel_weighted_sum, fast_layout, spatial_mean, target_scores,
                   upsample_layers)


def layer_cams(activations: Sequence[torch.Tensor], grads: Sequence[torch.Tensor],
               size: Sequence[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM of every layer from its activations and gradients → (maps, raw), (N, L, *size).

    Consecutive layers of equal activation shape go as one batch (the four layers of the 1-D CNN in
    one step): α_k = mean over positions of ∂y/∂A^k, then Σ_k α_k A^k as one batched matrix
    product, then one interpolation for the raw maps and one for the maps after the ReLU.
    """
    n, raw, maps, start = activations[0].shape[0], [], [], 0
    while start < len(activations):
        stop = start + 1
        while stop < len(activations) and activations[stop].shape == activations[start].shape:
            stop += 1
        run = stop - start  # a single layer is used in place (no copy), a run is stacked layer-major
        a = torch.cat([t.detach() for t in activations[start:stop]]) if run > 1 else activations[start].detach()
        g = torch.cat(grads[start:stop]) if run > 1 else grads[start]
        cam = channel_weighted_sum(a, spatial_mean(g)).view(run, n, *a.shape[2:]).transpose(0, 1)  # (N, run, *s)
        raw.append(upsample_layers(cam, size))
        maps.append(upsample_layers(cam.clamp(min=0), size))
        start = stop
    return torch.cat(maps, 1), torch.cat(raw, 1)


def gradcam(model: nn.Module, x: torch.Tensor, target: torch.Tensor, layers: Sequence[str]) -> Attribution:
    with torch.enable_grad():
        x = fast_layout(x.detach()).requires_grad_(True)  # keeps a graph even when the weights are frozen
        with capture(model, layers) as acts:
            logits = model(x)
        activations = [acts[name] for name in layers]
        grads = torch.autograd.grad(target_scores(logits, target), activations)
    maps, raw = layer_cams(activations, grads, x.shape[2:])
    return Attribution(maps=maps, layers=list(layers), raw=raw)
