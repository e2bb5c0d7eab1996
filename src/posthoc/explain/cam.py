"""Class activation mapping (Zhou et al.; seeds 002, 003) on a global-average-pooling model.

Only for models of the form conv features → global average pooling → linear (``models`` builds
them with ``gap=True``; such a model names its pooled module ``pooled_layer`` and its linear layer
``head``). With A (N, K, *s) the output of the pooled module and w^c the head's weights of class c:
CAM = Σ_k w^c_k A^k, then ReLU and upsampling as for Grad-CAM. One forward pass, no backward pass;
``layers == [model.pooled_layer]``. On such a model Grad-CAM at that layer equals CAM / (number of
positions): ∂y_c/∂A^k = w^c_k / Z at every position. A multi-label model's head is trained with its
task's loss (binary cross-entropy; rule ``train_gap``), and w^c is then label c's row.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import Attribution, capture, channel_weighted_sum, fast_layout, upsample
from .registry import Method


def cam(model: nn.Module, x: torch.Tensor, target: torch.Tensor, layers: Sequence[str] = ()) -> Attribution:
    layer, head = getattr(model, "pooled_layer", None), getattr(model, "head", None)
    if layer is None or not isinstance(head, nn.Linear):
        raise ValueError(
            "CAM needs a global-average-pooling model (conv features → GAP → linear), e.g. "
            "models.build_model(..., gap=True); the workflow trains one per dataset (rule train_gap)"
        )
    with torch.no_grad(), capture(model, [layer]) as acts:
        model(fast_layout(x))
        a = acts[layer]
        raw = channel_weighted_sum(a, head.weight[target.to(a.device)])
    size = x.shape[2:]
    return Attribution(
        maps=upsample(raw.clamp(min=0), size).unsqueeze(1), layers=[layer], raw=upsample(raw, size).unsqueeze(1)
    )


METHOD = Method(
    name="cam",
    fn=cam,
    layered=True,
    explains="model_gap",
    caption=(
        "CAM Σ_k w_k^c A^k on the global-average-pooling model (seeds 002, 003), at its last conv"
        " features; rows = classes, columns = input then the map"
    ),
    params=("target",),
)
