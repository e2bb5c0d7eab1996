"""Receptive-field arithmetic of convolution stacks (1-D and 2-D).

A position ``i`` (per spatial axis) of a layer's output sees the input interval
``[i * jump - pad, i * jump - pad + size - 1]``; walking the modules in forward order,
``size += (kernel - 1) * dilation * jump``, ``pad += padding * jump`` and ``jump *= stride``.
Element-wise modules (ReLU, dropout, batch norm) change nothing. Max-activating patches crop the
input to this interval around a channel's argmax position.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from torch import nn

_WINDOWED = (nn.Conv1d, nn.Conv2d, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
_ELEMENTWISE = (
    nn.ReLU,
    nn.LeakyReLU,
    nn.ELU,
    nn.GELU,
    nn.Identity,
    nn.Dropout,
    nn.BatchNorm1d,
    nn.BatchNorm2d,
    nn.Sigmoid,
    nn.Tanh,
)


@dataclass(frozen=True)
class Field:
    """Receptive field of one layer's output, per spatial axis."""

    size: tuple[int, ...]
    jump: tuple[int, ...]
    pad: tuple[int, ...]

    def box(self, position) -> tuple[np.ndarray, np.ndarray]:
        """Input interval ``[start, stop)`` per axis seen by output ``position`` (may extend past the input)."""
        start = np.asarray(position, dtype=np.int64) * np.asarray(self.jump) - np.asarray(self.pad)
        return start, start + np.asarray(self.size)


def _tuple(value, ndim: int) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (int(value),) * ndim


def receptive_field(model: nn.Module, layer: str, ndim: int) -> Field:
    """Receptive field of ``layer``'s output (a module path of ``model``), ``ndim`` spatial axes.

    Modules are visited in registration order, which is the forward order of the convolution
    stacks in :mod:`posthoc.models`; a windowed module this arithmetic does not know raises.
    """
    size, jump, pad = [1] * ndim, [1] * ndim, [0] * ndim
    names = [name for name, _ in model.named_modules()]
    if layer not in names:
        raise KeyError(f"layer {layer!r} is not a module of the model")
    for name, module in model.named_modules():
        if list(module.children()) and name != layer:
            continue  # containers: their leaves follow
        if isinstance(module, _WINDOWED):
            k = _tuple(module.kernel_size, ndim)
            s = _tuple(module.stride if module.stride is not None else module.kernel_size, ndim)
            p = _tuple(module.padding, ndim) if not isinstance(module.padding, str) else None
            if p is None:
                raise ValueError(f"{name}: string padding {module.padding!r} is not supported")
            d = _tuple(getattr(module, "dilation", 1), ndim)
            for a in range(ndim):
                size[a] += (k[a] - 1) * d[a] * jump[a]
                pad[a] += p[a] * jump[a]
                jump[a] *= s[a]
        elif name and not isinstance(module, _ELEMENTWISE):
            raise ValueError(f"{name}: receptive field through {type(module).__name__} is not known")
        if name == layer:
            return Field(tuple(size), tuple(jump), tuple(pad))
    raise KeyError(layer)


def crop(x: np.ndarray, field: Field, positions: np.ndarray, fill: float = np.nan) -> np.ndarray:
    """Crop ``x`` (N, C, *spatial) to the receptive field at ``positions`` (N, ndim) → (N, C, *field.size).

    Parts of the field outside the input are ``fill`` (padding the network saw as zeros).
    """
    x = np.asarray(x)
    n, ndim = len(x), len(field.size)
    pads = [(0, 0), (0, 0)] + [(s, s) for s in field.size]
    padded = np.pad(x.astype(np.float32), pads, constant_values=fill)
    start, _ = field.box(np.asarray(positions).reshape(n, ndim))
    start = start + np.asarray(field.size)  # into padded coordinates
    # one gather: index grids per axis, broadcast over rows
    grids = [
        start[:, a].reshape(n, *([1] * ndim))
        + np.arange(field.size[a]).reshape(1, *([1] * a), field.size[a], *([1] * (ndim - a - 1)))
        for a in range(ndim)
    ]
    rows = np.arange(n).reshape(n, *([1] * ndim))
    out = padded.transpose(0, *range(2, 2 + ndim), 1)[(rows, *grids)]  # (N, *size, C)
    return np.moveaxis(out, -1, 1)
