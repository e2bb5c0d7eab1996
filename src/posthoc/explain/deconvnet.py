"""DeconvNet (Zeiler & Fergus; seed 000 §4.1): every conv layer's positive feature map, projected back.

For a conv layer L with output A_L, the positive feature map F⁺ = max(A_L, 0) (all channels at
once) is sent back to the input through the layers below: max-unpooling with the switches recorded
in the forward pass, a ReLU on the reconstruction, and transposed convolutions with the trained
weights. That chain is exactly the vector-Jacobian product of A_L with F⁺ when every ReLU
passes back max(g, 0) (:func:`base.relu_rule` ``"deconvnet"``): the transpose of a convolution is
the transposed convolution with the same weights, the transpose of max-pooling routes each value
to its switch. ``tests/test_explain_deconvnet.py`` checks this against an explicit
unpool/ReLU/transposed-convolution network.

One forward pass records every layer; the reconstructions of all layers come from one batched
backward pass (``torch.autograd.grad(..., is_grads_batched=True)``: one seed per layer). The
projection does not depend on the class: ``target`` is accepted and ignored.

Map: the largest absolute value over channels of the reconstruction; ``channels`` keeps the
reconstruction itself (for the seed-000 figure).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .base import Attribution, abs_max_channels, capture, fast_layout, relu_rule
from .registry import Method


def deconvnet(model: nn.Module, x: torch.Tensor, target: torch.Tensor | None, layers: Sequence[str]) -> Attribution:
    with torch.enable_grad():
        x = fast_layout(x.detach()).requires_grad_(True)
        with relu_rule("deconvnet"), capture(model, layers) as acts:
            model(x)
        outputs = [acts[name] for name in layers]
        recon = []
        for i, a in enumerate(outputs):
            (r,) = torch.autograd.grad(a, x, a.detach().clamp(min=0), retain_graph=i < len(outputs) - 1)
            recon.append(r)
    channels = torch.stack(recon, 1).detach()  # (N, L, C, *s)
    return Attribution(
        maps=abs_max_channels(channels.flatten(0, 1)).unflatten(0, channels.shape[:2]),
        layers=list(layers),
        channels=channels,
    )


METHOD = Method(
    name="deconvnet",
    fn=deconvnet,
    layered=True,
    class_independent=True,
    figure="reconstructions",
    signed=True,
    caption=(
        "DeconvNet reconstructions from every conv layer, one correctly classified test example "
        "per class; rows = classes, columns = input then layers 1..L (seed 000 Figs 11–13)"
    ),
    params=("target",),
)
