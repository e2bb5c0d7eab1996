"""One engine for optimisation-based visualisation: objective + parameterisation + composable regularisers.

Gradient ascent on the input (seed 001 ch. 4, seed 002 §B). Every row of a batch has its own target
— a whole layer (sum of squared activations, seed 001 Program 4.4), one channel of a layer, or one
class logit — so all channels of all layers, or all classes, are optimised together in ONE batch:
one forward and one backward per step, whatever the number of targets.

* parameterisation: the image itself, in the model's normalised input space, grown through a
  multiscale pyramid (``levels`` sizes, each ``growth`` times the previous, seed 001 §4.1);
* transforms before each forward (robustness priors, seed 002 §B): jitter (roll), rotation, scale;
* penalties on the objective: total variation, L2;
* after each step: Gaussian blur (seed 001 Fig 4.3) and clamping to the valid pixel range;
* the step: the gradient, or the gradient normalised per row (seed 001 Program 4.4);
* redirected ReLU (Lucid): a row whose ReLU gradient is zero everywhere (a channel dead at the start)
  gets the gradient through that ReLU's negative inputs where it pushes them up, so it can come alive.

Works for 2-D images (N, C, H, W) and 1-D signals (N, C, L) alike (no rotation for signals).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..explain.base import capture


@dataclass(frozen=True)
class Settings:
    """Optimisation settings; the config section ``feature_vis`` documents each (schemas/config.schema.yaml)."""

    steps: int  # gradient steps per pyramid level
    lr: float  # step size
    normalise_grad: bool  # step along (g - mean) / std per row instead of g
    levels: int = 1  # pyramid levels (1 = optimise at full size only)
    growth: float = 1.4  # size ratio between pyramid levels
    blur_sigma: float = 0.0  # Gaussian blur of the image after each step (px); 0 = none
    jitter: int = 0  # random roll of up to this many px per step
    rotate: float = 0.0  # random rotation within +- degrees (images only)
    scale: float = 0.0  # random scaling within 1 +- scale
    tv: float = 0.0  # weight of the total-variation penalty
    l2: float = 0.0  # weight of the L2 penalty
    redirect_relu: bool = False  # redirected ReLU gradient for rows whose ReLU gradient is all zero

    def plain(self) -> "Settings":
        """Plain gradient ascent: no pyramid, transforms, blur or penalties."""
        return replace(self, levels=1, blur_sigma=0.0, jitter=0, rotate=0.0, scale=0.0, tv=0.0, l2=0.0)


def settings_from_config(cfg: dict) -> Settings:
    keys = Settings.__dataclass_fields__
    return Settings(**{k: cfg[k] for k in keys if k in cfg})


# ------------------------------------------------------------------------------------------------ objectives
Objective = Callable[[dict, torch.Tensor], torch.Tensor]  # (captured layer outputs, logits) -> (N,) per row


def layer_objective(layer_of_row: Sequence[str]) -> Objective:
    """Row r maximises the sum of squared activations of layer ``layer_of_row[r]`` (seed 001 Program 4.4)."""
    return _per_layer(layer_of_row, lambda a, _: (a.flatten(1) ** 2).sum(1))


def channel_objective(layer_of_row: Sequence[str], channel_of_row: Sequence[int]) -> Objective:
    """Row r maximises the spatial mean of channel ``channel_of_row[r]`` of layer ``layer_of_row[r]``."""
    return _per_layer(
        layer_of_row, lambda a, ch: a[torch.arange(len(a), device=a.device), ch].flatten(1).mean(1), channel_of_row
    )


def class_objective(classes: Sequence[int]) -> Objective:
    """Row r maximises the logit of class ``classes[r]`` (class visualisation / class impression)."""
    target = torch.as_tensor(np.asarray(classes), dtype=torch.int64)

    def objective(_store, logits):
        return logits.gather(1, target.to(logits.device).view(-1, 1))[:, 0]

    objective.layers = ()
    return objective


def _per_layer(layer_of_row, value, channel_of_row=None) -> Objective:
    layer_of_row = list(layer_of_row)
    names = list(dict.fromkeys(layer_of_row))
    rows = {n: torch.tensor([i for i, m in enumerate(layer_of_row) if m == n]) for n in names}
    channels = torch.as_tensor(
        np.asarray(channel_of_row if channel_of_row is not None else [0] * len(layer_of_row)), dtype=torch.int64
    )

    def objective(store, _logits):
        out = None
        for name in names:  # the distinct layers of the request (rows of one layer together)
            act, r = store[name], rows[name].to(store[name].device)
            v = value(act[r], channels.to(act.device)[r])
            out = torch.zeros(len(channels), device=v.device, dtype=v.dtype) if out is None else out
            out = out.index_put((r,), v)
        return out

    objective.layers = tuple(names)
    return objective


# ------------------------------------------------------------------------------------------------ regularisers
def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur over the spatial axes of (N, C, *spatial), reflect padding."""
    if sigma <= 0:
        return x
    radius = max(1, int(math.ceil(3 * sigma)))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    c, nd = x.shape[1], x.ndim - 2
    for axis in range(nd):
        size = x.shape[2 + axis]
        r = min(radius, size - 1)
        k = kernel[radius - r : radius + r + 1]
        k = k / k.sum()
        shape = [c, 1] + [1] * nd
        shape[2 + axis] = len(k)
        pad = [0, 0] * nd
        pad[2 * (nd - 1 - axis)] = pad[2 * (nd - 1 - axis) + 1] = r
        conv = F.conv1d if nd == 1 else F.conv2d
        weight = k.reshape([1] + shape[1:]).expand(shape).contiguous()
        x = conv(F.pad(x, pad, mode="reflect"), weight, groups=c)
    return x


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbours, per row (N,)."""
    tv = 0
    for axis in range(2, x.ndim):
        tv = tv + x.diff(dim=axis).abs().flatten(1).mean(1)
    return tv


def random_transform(x: torch.Tensor, s: Settings, gen: torch.Generator) -> torch.Tensor:
    """Jitter (one random roll for the batch), then per-row random rotation and scale (one resampling)."""
    nd = x.ndim - 2
    if s.jitter > 0:
        shifts = torch.randint(-s.jitter, s.jitter + 1, (nd,), generator=gen).tolist()
        x = torch.roll(x, shifts=shifts, dims=tuple(range(2, 2 + nd)))
    if s.scale <= 0 and (s.rotate <= 0 or nd == 1):
        return x
    n = len(x)
    scale = 1 + (torch.rand(n, generator=gen) * 2 - 1) * s.scale
    if nd == 1:
        zero, one = torch.zeros(n), torch.ones(n)
        theta = torch.stack([torch.stack([1 / scale, zero, zero], 1), torch.stack([zero, one, zero], 1)], 1)
        grid = F.affine_grid(theta.to(x), (n, x.shape[1], 1, x.shape[2]), align_corners=False)
        return F.grid_sample(x.unsqueeze(2), grid, padding_mode="reflection", align_corners=False).squeeze(2)
    angle = (torch.rand(n, generator=gen) * 2 - 1) * math.radians(s.rotate)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, torch.zeros(n)], 1), torch.stack([sin, cos, torch.zeros(n)], 1)], 1)
    grid = F.affine_grid(theta.to(x), tuple(x.shape), align_corners=False)
    return F.grid_sample(x, grid, padding_mode="reflection", align_corners=False)


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    if tuple(x.shape[2:]) == tuple(size):
        return x
    return F.interpolate(x, size=tuple(size), mode="linear" if x.ndim == 3 else "bilinear", align_corners=False)


def pyramid_sizes(size: Sequence[int], levels: int, growth: float) -> list[tuple[int, ...]]:
    """Spatial sizes of the pyramid, smallest first, ending at ``size``."""
    return [tuple(max(4, round(d / growth ** (levels - 1 - i))) for d in size) for i in range(levels)]


class _RedirectedReLU(torch.autograd.Function):
    """ReLU whose backward lets a stuck row through (Lucid's redirected ReLU), for gradient *ascent*.

    Per batch row: if the ordinary ReLU gradient of the row is nonzero anywhere, it is returned unchanged
    (bit for bit); if it is zero everywhere, the gradient also passes where the input is not positive but
    the gradient is positive, i.e. where an ascent step raises the input towards activating the unit.
    """

    @staticmethod
    def forward(ctx, x):
        out = torch.relu(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        active = out > 0
        plain = torch.where(active, grad, 0.0)  # = torch's ReLU backward
        live = plain.flatten(1).ne(0).any(1)
        if bool(live.all()):
            return plain
        rising = torch.where(active | (grad > 0), grad, 0.0)
        return torch.where(live.view(-1, *[1] * (grad.ndim - 1)), plain, rising)


def _redirected_forward(x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    return _RedirectedReLU.apply(x)


@contextmanager
def redirected_relu(model: nn.Module, enabled: bool = True):
    """Within the block every ``nn.ReLU`` of ``model`` (in-place ones computed out of place, same values)
    rectifies through :class:`_RedirectedReLU`; restored on exit, also when the block raises.

    The module's ``forward`` is replaced by an instance attribute, so hooks and names stay as they are;
    enter it before :func:`~posthoc.explain.base.capture`, whose recording wraps the forward it finds.
    """
    undo = []
    try:
        if enabled:
            for module in model.modules():
                if isinstance(module, nn.ReLU):
                    undo.append((module, module.__dict__.get("forward")))
                    module.__dict__["forward"] = _redirected_forward
        yield model
    finally:
        for module, own in reversed(undo):
            if own is None:
                del module.__dict__["forward"]
            else:
                module.__dict__["forward"] = own


# ------------------------------------------------------------------------------------------------ engine
@dataclass
class Result:
    x: torch.Tensor  # (N, C, *spatial) optimised inputs (normalised model space)
    history: np.ndarray  # (steps in total, N) objective per step, before the step's update
    final: np.ndarray  # (N,) objective of the returned inputs (no transforms)


def visualise(
    model: nn.Module,
    objective: Objective,
    start: torch.Tensor,
    settings: Settings,
    *,
    low: torch.Tensor | None = None,
    high: torch.Tensor | None = None,
    seed: int,
    progress=None,
) -> Result:
    """Gradient ascent of ``objective`` from ``start`` (N, C, *spatial); ``low``/``high`` clamp per channel.

    Seeded: the random transforms come from a generator seeded with ``seed``, so the same call
    gives the same images. Model parameters are left untouched (no gradients accumulate on them).
    With ``settings.redirect_relu`` the model's ReLUs are redirected (:func:`redirected_relu`) during
    the steps; the returned ``final`` objective is that of the plain model.
    """
    s = settings
    gen = torch.Generator().manual_seed(int(seed))
    size = tuple(start.shape[2:])
    layers = getattr(objective, "layers", ())
    sizes = pyramid_sizes(size, s.levels, s.growth)
    x = _resize(start.detach(), sizes[0]).clone()
    bounds = [b.view(1, -1, *([1] * (x.ndim - 2))).to(x) if b is not None else None for b in (low, high)]
    history = []
    needs = [p.requires_grad for p in model.parameters()]
    for p in model.parameters():
        p.requires_grad_(False)
    try:
        with redirected_relu(model, s.redirect_relu), capture(model, layers) as store:
            for level, level_size in enumerate(sizes):
                x = _resize(x, level_size).detach()
                for _ in range(s.steps):
                    x.requires_grad_(True)
                    seen = _resize(random_transform(x, s, gen), size)
                    logits = model(seen)
                    value = objective(store, logits)
                    loss = value
                    if s.tv > 0:
                        loss = loss - s.tv * total_variation(x)
                    if s.l2 > 0:
                        loss = loss - s.l2 * (x**2).flatten(1).mean(1)
                    (grad,) = torch.autograd.grad(loss.sum(), x)
                    history.append(value.detach().float().cpu().numpy())
                    with torch.no_grad():
                        if s.normalise_grad:
                            flat = grad.flatten(1)
                            grad = ((flat - flat.mean(1, keepdim=True)) / (flat.std(1, keepdim=True) + 1e-8)).view_as(x)
                        x = x.detach() + s.lr * grad
                        x = gaussian_blur(x, s.blur_sigma)
                        if bounds[0] is not None:
                            x = torch.maximum(torch.minimum(x, bounds[1]), bounds[0])
                    if progress is not None:
                        progress.update(1)
            x = _resize(x.detach(), size)
            with torch.no_grad():
                final = objective(store, model(x)).float().cpu().numpy()
    finally:
        for p, need in zip(model.parameters(), needs):
            p.requires_grad_(need)
    return Result(x, np.stack(history) if history else np.zeros((0, len(x))), final)


def noise_start(
    n: int, shape: Sequence[int], low: torch.Tensor | None, high: torch.Tensor | None, seed: int
) -> torch.Tensor:
    """Uniform noise (seed 001 §4.1: U[0, 1] per pixel): within [low, high] per channel, else U[-1, 1]."""
    gen = torch.Generator().manual_seed(int(seed))
    u = torch.rand((n, *shape), generator=gen)
    if low is None:
        return u * 2 - 1
    view = (1, -1) + (1,) * (len(shape) - 1)
    return low.view(view) + u * (high - low).view(view)
