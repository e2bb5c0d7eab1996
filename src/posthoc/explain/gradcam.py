"""Grad-CAM (Selvaraju et al.; seed 000 §5, seed 004 §II-A) at every requested layer at once.

For layer activations A (N, K, *s): α_k = mean over positions of ∂y_c/∂A_k, and the map is
ReLU(Σ_k α_k A_k), upsampled to the input. One forward pass and one backward pass serve all
layers; the backward pass stops at the earliest requested layer and computes no weight gradients.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import Attribution, capture, spatial_dims, target_scores, upsample


def gradcam(model: nn.Module, x: torch.Tensor, target: torch.Tensor, layers: Sequence[str]) -> Attribution:
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)  # keeps a graph even when the weights are frozen
        with capture(model, layers) as acts:
            logits = model(x)
        activations = [acts[name] for name in layers]
        grads = torch.autograd.grad(target_scores(logits, target), activations)
    size = x.shape[2:]
    raw, maps = [], []
    for a, g in zip(activations, grads):
        cam = (g.mean(dim=spatial_dims(g), keepdim=True) * a).sum(dim=1).detach()
        raw.append(upsample(cam, size))
        maps.append(upsample(cam.clamp(min=0), size))
    return Attribution(maps=torch.stack(maps, 1), layers=list(layers), raw=torch.stack(raw, 1))
