"""Occlusion sensitivity (Zeiler & Fergus 2014; seed 000 §4.2, seed 003) for 1-D and 2-D inputs.

A window slides over the input; at each position the window (all channels) is set to ``fill`` in
normalised space (0 = the dataset's mean colour) and the model is run on the occluded copy. Window
positions follow Captum's ``Occlusion``: per spatial dimension the first window starts at 0 and there
are ceil((L − w) / s) + 1 windows, the last one cut off at the border, so every position is covered.

* :func:`scan` evaluates every (image, position) pair in chunks of ``batch_size`` forward samples —
  the unoccluded originals travel in the same stream — and returns, per window position, the
  target's probability, the predicted class (multi-label: the top-scoring label) and (optionally) the
  summed activation of the most responsive channel of one layer: the three maps of seed 000.
* :func:`occlusion` (method id ``occlusion``) returns the contract map: for every input position,
  the drop of the target's probability (p − p_occluded) averaged over the windows that cover it,
  which is Captum's ``Occlusion`` applied to the probabilities of the model's task
  (:mod:`posthoc.tasks`): the softmax, or for a multi-label model the target label's sigmoid.

Window and stride are in the input's own units, pixels of an image or samples of a signal (seed 000
uses 32–90 px windows and strides 10–20 on 128-px images); each dataset sets its own in the config.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from .. import tasks
from .base import Attribution, capture, fast_layout
from .registry import Method


def window_geometry(shape: Sequence[int], window: int, stride: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Per spatial dimension: (window, stride) in the input's units, clamped to Captum's constraints
    (window at most the input, stride at most the window)."""
    wins = tuple(max(1, min(int(size), int(window))) for size in shape)
    return wins, tuple(max(1, min(w, int(stride))) for w in wins)


def window_masks(size: int, window: int, stride: int, device=None) -> torch.Tensor:
    """Bool (n_positions, size): row a covers [a·stride, min(a·stride + window, size))."""
    n = math.ceil((size - window) / stride) + 1
    starts = torch.arange(n, device=device).unsqueeze(1) * stride
    pos = torch.arange(size, device=device).unsqueeze(0)
    return (pos >= starts) & (pos < starts + window)


@dataclass
class OcclusionScan:
    """Per image and window position (grid shape ``grid``): the three maps of seed 000 §4.2."""

    masks: list[torch.Tensor]  # per spatial dim: (n_d, L_d) bool
    prob0: torch.Tensor  # (N,) target's probability of the unoccluded input
    pred0: torch.Tensor  # (N,) its predicted class (multi-label: top-scoring label)
    prob: torch.Tensor  # (N, *grid) target's probability with the window occluded
    pred: torch.Tensor  # (N, *grid) predicted class (top-scoring label) with the window occluded
    activation: torch.Tensor | None  # (N, *grid) summed ReLU activation of ``channel`` at ``layer``
    channel: torch.Tensor | None  # (N,) most responsive channel of ``layer`` on the unoccluded input
    window: tuple[int, ...]
    stride: tuple[int, ...]

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(m.shape[0] for m in self.masks)

    def drop_map(self) -> torch.Tensor:
        """(N, *spatial): mean of p − p_occluded over the windows covering each input position."""
        drop = self.prob0.view(-1, *([1] * len(self.masks))) - self.prob
        m = [mask.to(drop.dtype) for mask in self.masks]
        if len(m) == 1:
            total, count = drop @ m[0], m[0].sum(0)
        else:
            total = torch.einsum("ah,nab,bw->nhw", m[0], drop, m[1])
            count = torch.outer(m[0].sum(0), m[1].sum(0))
        return total / count

    def window_mask(self, index: Sequence[int]) -> torch.Tensor:
        """Bool (*spatial) mask of the window at grid position ``index``."""
        rows = [mask[i] for mask, i in zip(self.masks, index)]
        return rows[0] if len(rows) == 1 else rows[0][:, None] & rows[1][None, :]


def _position_masks(masks: list[torch.Tensor], flat: torch.Tensor) -> torch.Tensor:
    """(B, *spatial) masks of flat grid indices; index −1 → no occlusion (the original)."""
    keep = flat >= 0
    flat = flat.clamp(min=0)
    if len(masks) == 1:
        out = masks[0][flat]
    else:
        a, b = flat // masks[1].shape[0], flat % masks[1].shape[0]
        out = masks[0][a][:, :, None] & masks[1][b][:, None, :]
    return out & keep.view(-1, *([1] * len(masks)))


#: Occluded inputs are built this many elements at a time (32 MB in float32), then fed to the model in
#: batches; per forward batch only a slice is taken, which keeps small models close to plain inference.
CHUNK_ELEMENTS = 1 << 23


def forward_chunks(total: int, sample_elements: int, batch_size: int):
    """Ranges of ``total`` samples, each a whole number of batches of at most ~CHUNK_ELEMENTS elements."""
    per_chunk = max(batch_size, CHUNK_ELEMENTS // max(1, sample_elements) // batch_size * batch_size)
    for start in range(0, total, per_chunk):
        yield start, min(start + per_chunk, total)


@torch.inference_mode()
def scan(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    window: int,
    stride: int,
    fill: float = 0.0,
    batch_size: int = 256,
    layer: str | None = None,
    task: str | None = None,
) -> OcclusionScan:
    """Occlude every window position of every image, ``batch_size`` forward samples at a time; probabilities
    as ``task`` (:mod:`posthoc.tasks`) makes them."""
    model.eval()
    x = fast_layout(x)  # occluded copies inherit the layout: channels-last images on the CPU
    n, spatial = x.shape[0], tuple(x.shape[2:])
    wins, strides = window_geometry(spatial, window, stride)
    masks = [window_masks(size, w, s, device=x.device) for size, w, s in zip(spatial, wins, strides)]
    grid = tuple(m.shape[0] for m in masks)
    per_image = math.prod(grid) + 1  # the original, then every position
    target = torch.as_tensor(target, dtype=torch.long, device=x.device)
    fill_t = torch.as_tensor(fill, dtype=x.dtype, device=x.device)
    logits, sums = [], []
    with capture(model, [layer] if layer else []) as acts:
        for start, stop in forward_chunks(n * per_image, x[0].numel(), batch_size):
            t = torch.arange(start, stop, device=x.device)
            hide = _position_masks(masks, t % per_image - 1).unsqueeze(1)
            inputs = torch.where(hide, fill_t, x[t // per_image])
            for b in range(0, len(t), batch_size):
                logits.append(model(inputs[b : b + batch_size]))
                if layer:
                    sums.append(acts[layer].clamp(min=0).flatten(2).sum(2))  # (B, channels)
    p = tasks.get(task).probabilities(torch.cat(logits).double()).view(n, per_image, -1)
    probs = p.gather(2, target.view(n, 1, 1).expand(n, per_image, 1)).squeeze(2)
    preds = p.argmax(2)
    activation = channel = None
    if layer:
        a = torch.cat(sums).double().view(n, per_image, -1)
        channel = a[:, 0].argmax(1)
        activation = a[:, 1:].gather(2, channel.view(n, 1, 1).expand(n, per_image - 1, 1)).squeeze(2)
        activation = activation.reshape(n, *grid)
    return OcclusionScan(
        masks=masks,
        prob0=probs[:, 0],
        pred0=preds[:, 0],
        prob=probs[:, 1:].reshape(n, *grid),
        pred=preds[:, 1:].reshape(n, *grid),
        activation=activation,
        channel=channel,
        window=wins,
        stride=strides,
    )


def occlusion(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    layers: Sequence[str] = (),
    *,
    window: int,
    stride: int,
    fill: float = 0.0,
    batch_size: int = 256,
    task: str | None = None,
) -> Attribution:
    """Probability-drop map at input resolution (layer-less: ``layers == ["input"]``); ``task`` as in :func:`scan`."""
    result = scan(model, x.detach(), target, window, stride, fill, batch_size, task=task)
    maps = result.drop_map().to(torch.float32).unsqueeze(1)
    return Attribution(maps=maps, layers=["input"])


def channel_projection(model: nn.Module, x: torch.Tensor, layer: str, channel: torch.Tensor) -> torch.Tensor:
    """DeconvNet projection (Zeiler & Fergus; seed 000 §4.1) of one channel of ``layer`` per image.

    The positive part of channel ``channel[i]`` of image i (all other channels zero) is sent back to
    the input through the DeconvNet backward rule (:func:`base.relu_rule`); returns (N, C, *spatial).
    Summed over all channels this is :func:`posthoc.explain.deconvnet.deconvnet`'s reconstruction.
    """
    from .base import relu_rule

    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        with relu_rule("deconvnet"), capture(model, [layer]) as acts:
            model(x)
        a = acts[layer]
        keep = torch.zeros_like(a, dtype=torch.bool)
        keep[torch.arange(len(a)), torch.as_tensor(channel, device=a.device)] = True
        (projection,) = torch.autograd.grad(a, x, torch.where(keep, a.detach().clamp(min=0), 0.0))
    return projection.detach()


METHOD = Method(
    name="occlusion",
    fn=occlusion,
    layered=False,
    signed=True,
    caption=(
        "Occlusion sensitivity: drop of the target's probability (softmax; multi-label: the label's sigmoid) "
        "when a window (set to the dataset mean) hides a position, averaged over the windows covering it "
        "(seed 000 §4.2); one correctly classified test example per class; rows = classes, columns = input "
        "then the map"
    ),
    params=("target", "n_eval", "fill", "batch_size", "amp"),
    dataset_params=("window", "stride"),
    torchscript=True,
)
