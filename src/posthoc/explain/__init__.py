"""Explanation methods: one verb, batched, for 1-D and 2-D models.

``explain(method, model, x, target, layers)`` returns an :class:`Attribution` whose ``maps`` have
shape (N, n_layers, *input spatial shape). Methods without layers return ``layers == ["input"]``.
This package never loads data or draws; see ``posthoc.stages`` for that.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from .base import Attribution
from .cam import cam
from .deconvnet import deconvnet
from .gradcam import gradcam
from .guided_backprop import guided_backprop
from .guided_gradcam import guided_gradcam
from .integrated_gradients import integrated_gradients
from .lime import lime
from .occlusion import occlusion
from .saliency import saliency

METHODS: dict[str, Callable[..., Attribution]] = {
    "gradcam": gradcam,
    # gradient family (issue 3)
    "saliency": saliency,
    "guided_backprop": guided_backprop,
    "guided_gradcam": guided_gradcam,
    "deconvnet": deconvnet,
    "cam": cam,
    "integrated_gradients": integrated_gradients,
    # perturbation family (issue 4)
    "occlusion": occlusion,
    "lime": lime,
}


def explain(method: str, model: nn.Module, x: torch.Tensor, target: torch.Tensor, layers: Sequence[str],
            **params) -> Attribution:
    """Run one method on a batch; ``target`` holds one class index per image."""
    try:
        fn = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown explanation method {method!r}; available: {sorted(METHODS)}") from None
    return fn(model, x, torch.as_tensor(target, dtype=torch.long), layers, **params)


__all__ = ["Attribution", "METHODS", "explain", "gradcam", "saliency", "guided_backprop", "guided_gradcam",
           "deconvnet", "cam", "integrated_gradients", "occlusion", "lime"]
