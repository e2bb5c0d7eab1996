"""Vanilla saliency (Simonyan et al.; seed 003): |∂y_c/∂x|, the largest over channels.

One forward and one backward pass for the whole batch; no layers (``layers == ["input"]``).
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import Attribution, abs_max_channels, input_gradient


def saliency(model: nn.Module, x: torch.Tensor, target: torch.Tensor, layers: Sequence[str] = ()) -> Attribution:
    grad = input_gradient(model, x, target).detach()
    return Attribution(maps=abs_max_channels(grad).unsqueeze(1), layers=["input"], channels=grad.unsqueeze(1))
