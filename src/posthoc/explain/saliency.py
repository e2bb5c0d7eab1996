"""Vanilla saliency (Simonyan et al.; seed 003): |∂y_c/∂x|, the largest over channels.

One forward and one backward pass for the whole batch; no layers (``layers == ["input"]``).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import Attribution, abs_max_channels, input_gradient
from .registry import Method


def saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor, layers: Sequence[str] = ()) -> Attribution:
    grad = input_gradient(model, x, target).detach()
    return Attribution(maps=abs_max_channels(grad).unsqueeze(1), layers=["input"], channels=grad.unsqueeze(1))


METHOD = Method(
    name="saliency",
    fn=saliency,
    layered=False,
    caption=(
        "Vanilla saliency |∂y_c/∂x|, largest over channels (seed 003), one correctly classified "
        "test example per class; rows = classes, columns = input then the map"
    ),
    params=("target",),
    torchscript=True,
)
