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
from .gradcam import gradcam

METHODS: dict[str, Callable[..., Attribution]] = {
    "gradcam": gradcam,
}


def explain(method: str, model: nn.Module, x: torch.Tensor, target: torch.Tensor, layers: Sequence[str],
            **params) -> Attribution:
    """Run one method on a batch; ``target`` holds one class index per image."""
    try:
        fn = METHODS[method]
    except KeyError:
        raise ValueError(f"unknown explanation method {method!r}; available: {sorted(METHODS)}") from None
    return fn(model, x, torch.as_tensor(target, dtype=torch.long), layers, **params)


__all__ = ["Attribution", "METHODS", "explain", "gradcam"]
