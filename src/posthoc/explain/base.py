"""Hook plumbing shared by every explanation method, written once.

* :func:`capture` records the outputs of several layers during one forward pass, keeping them in
  the autograd graph so that one backward pass yields the gradients of all of them.
* :func:`target_scores` sums the chosen logit of every image: since images of a batch do not
  interact in eval mode, its gradient holds every image's own gradient.
* :func:`upsample` brings layer-resolution maps to the input's spatial size (1-D or 2-D).
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class Attribution:
    """Maps at input resolution, float32, shape (N, n_layers, *spatial).

    ``maps`` are what is shown and scored; ``raw`` are the same maps before the final ReLU (for
    methods that apply one), kept so that metrics can rank positions the ReLU ties at zero.
    """

    maps: torch.Tensor
    layers: list[str]
    raw: torch.Tensor | None = None


@contextlib.contextmanager
def capture(model: nn.Module, layers: Sequence[str]) -> Iterator[dict[str, torch.Tensor]]:
    """Record the output tensor of each named module during the forward passes in the block."""
    store: dict[str, torch.Tensor] = {}
    handles = []
    for name in layers:
        module = model.get_submodule(name)
        handles.append(module.register_forward_hook(lambda _m, _i, out, name=name: store.__setitem__(name, out)))
    try:
        yield store
    finally:
        for h in handles:
            h.remove()


def target_scores(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Sum over the batch of each image's logit for its target class (a scalar to differentiate)."""
    return logits.gather(1, target.view(-1, 1).to(logits.device)).sum()


def upsample(maps: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """(N, *s) layer maps → (N, *size) by linear (1-D) or bilinear (2-D) interpolation."""
    mode = {1: "linear", 2: "bilinear"}[len(size)]
    if tuple(maps.shape[1:]) == tuple(size):
        return maps
    return F.interpolate(maps.unsqueeze(1), size=tuple(size), mode=mode, align_corners=False).squeeze(1)


def spatial_dims(t: torch.Tensor) -> tuple[int, ...]:
    """The spatial dimensions of an (N, C, *spatial) tensor."""
    return tuple(range(2, t.ndim))
