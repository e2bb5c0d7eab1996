"""Guided Grad-CAM (Selvaraju et al.; seeds 001 §3.3, 003): guided backprop × upsampled Grad-CAM.

For every requested layer at once, from one forward pass and two backward passes: the first,
with ordinary ReLU gradients, reaches the layers' activations (Grad-CAM of all layers); the second,
on the same graph with the guided ReLU rule switched on, reaches the input (guided backprop, shared
by every layer). Map: the largest absolute value over channels of the product, i.e. the upsampled
Grad-CAM times the guided-backprop map.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import Attribution, abs_max_channels, capture, fast_layout, relu_rule, target_scores
from .gradcam import layer_cams
from .registry import Method


def guided_gradcam(model: nn.Module, x: torch.Tensor, target: torch.Tensor, layers: Sequence[str]) -> Attribution:
    with torch.enable_grad():
        x = fast_layout(x.detach()).requires_grad_(True)
        with relu_rule("gradient") as rule, capture(model, layers) as acts:
            logits = model(x)
        score = target_scores(logits, target)
        activations = [acts[name] for name in layers]
        grads = torch.autograd.grad(score, activations, retain_graph=True)
        rule.rule = "guided"
        (guided,) = torch.autograd.grad(score, x)
    cams, _ = layer_cams(activations, grads, x.shape[2:])  # (N, L, *s), after the ReLU
    guided = guided.detach()
    maps = abs_max_channels(guided).unsqueeze(1) * cams
    return Attribution(maps=maps, layers=list(layers), channels=guided.unsqueeze(1) * cams.unsqueeze(2))


METHOD = Method(
    name="guided_gradcam",
    fn=guided_gradcam,
    layered=True,
    caption=(
        "Guided Grad-CAM = guided backprop × upsampled Grad-CAM at every conv layer (seeds 001 "
        "§3.3, 003); rows = classes, columns = input then layers 1..L"
    ),
    params=("target",),
)
