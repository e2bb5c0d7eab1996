"""Guided backpropagation (Springenberg et al.; seeds 001 §3.2, 002, 003).

The gradient of the target score with respect to the input, where every ReLU passes back only
positive gradients at positions it let through in the forward pass. The rule is applied to every
ReLU, whether the model uses ``nn.ReLU`` modules or functional calls (:func:`base.relu_rule`), to
the whole batch at once. Map: the largest absolute value over channels (as for saliency).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import Attribution, abs_max_channels, input_gradient
from .registry import Method


def guided_backprop(model: nn.Module, x: torch.Tensor, target: torch.Tensor, layers: Sequence[str] = ()) -> Attribution:
    grad = input_gradient(model, x, target, rule="guided").detach()
    return Attribution(maps=abs_max_channels(grad).unsqueeze(1), layers=["input"], channels=grad.unsqueeze(1))


METHOD = Method(
    name="guided_backprop",
    fn=guided_backprop,
    layered=False,
    caption=(
        "Guided backpropagation (only positive gradients through every ReLU; seeds 001 §3.2, 002,"
        " 003), largest absolute value over channels; rows = classes, columns = input then the "
        "map"
    ),
    params=("target",),
)
