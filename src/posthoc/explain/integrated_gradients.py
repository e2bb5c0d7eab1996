"""Integrated gradients (Sundararajan et al.; seed 004 §II-B), batched over steps and images.

attribution = (x − x') ⊙ Σ_k w_k ∂y_c/∂x |_{x' + α_k (x − x')}, with the quadrature nodes α_k
and weights w_k of ``step_rule`` (the names and rules of Captum: ``gausslegendre``, ``riemann_right``
— seed 004's (1/M) Σ_{k=1..M} ∂F(k/M x)/∂x —, ``riemann_left``, ``riemann_middle``). The baseline
x' is ``zeros`` (0 in normalised space: the dataset mean), ``black`` (a black image; needs
``black_level``, the per-channel model-space value of a zero pixel, which the explain stage
provides) or ``blurred`` (the input under a Gaussian blur of ``blur_sigma`` positions).

All M·N path points of a batch go through one forward and one backward pass, split into passes of
at most ``internal_batch_size`` images (whole steps) to bound memory.

Map (``channel_reduction``): ``sum_relu`` (default) sums over channels, then ReLU (seed 004 §IV-B: not
the sum of absolute values, which would count evidence against the class as salient); ``raw`` keeps
the signed sum. ``sum_abs`` is seed 004's tf-explain reduction, Σ_c |attribution| (kept to show what
that choice changes; ``raw`` is then the same map). ``extras`` holds the
completeness gap |Σ attributions − (f(x) − f(x'))| / |f(x) − f(x')| of every image (f = the
target logit), which shrinks as ``steps`` grows.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import Attribution, fast_layout, sum_relu_channels, target_grad
from .registry import Method

STEP_RULES = ("gausslegendre", "riemann_right", "riemann_left", "riemann_middle")
BASELINES = ("zeros", "black", "blurred")
CHANNEL_REDUCTIONS = ("sum_relu", "sum_abs")


def path_nodes(steps: int, step_rule: str = "gausslegendre") -> tuple[torch.Tensor, torch.Tensor]:
    """Quadrature nodes α_k in [0, 1] and weights w_k (float64) of the path integral."""
    if steps < 1:
        raise ValueError(f"integrated gradients needs at least one step, got {steps}")
    if step_rule == "gausslegendre":
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        return torch.from_numpy((nodes + 1) / 2), torch.from_numpy(weights / 2)
    offsets = {"riemann_right": 1.0, "riemann_left": 0.0, "riemann_middle": 0.5}
    if step_rule not in offsets:
        raise ValueError(f"unknown integration step rule {step_rule!r}; choose one of {STEP_RULES}")
    alphas = (torch.arange(steps, dtype=torch.float64) + offsets[step_rule]) / steps
    return alphas, torch.full((steps,), 1.0 / steps, dtype=torch.float64)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, *spatial), 1-D or 2-D, reflecting at the borders."""
    if sigma <= 0:
        return x.clone()
    for dim in range(2, x.ndim):
        size = x.shape[dim]
        radius = min(int(math.ceil(3 * sigma)), size - 1)
        if radius < 1:
            continue
        t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
        kernel = torch.exp(-0.5 * (t / sigma) ** 2)
        kernel = (kernel / kernel.sum()).view(1, 1, -1).repeat(x.shape[1], 1, 1)
        moved = x.movedim(dim, -1)
        shape = moved.shape
        flat = moved.reshape(-1, x.shape[1], size)  # (N·other, C, size)
        flat = F.conv1d(F.pad(flat, (radius, radius), mode="reflect"), kernel, groups=x.shape[1])
        x = flat.reshape(shape).movedim(-1, dim)
    return x


def make_baseline(
    x: torch.Tensor, baseline: str = "zeros", black_level: Sequence[float] | None = None, blur_sigma: float = 5.0
) -> torch.Tensor:
    if baseline == "zeros":
        return torch.zeros_like(x)
    if baseline == "black":
        if black_level is None:
            raise ValueError("baseline 'black' needs black_level: the model-space value of a zero pixel per channel")
        level = torch.as_tensor(black_level, dtype=x.dtype, device=x.device).reshape(1, -1, *([1] * (x.ndim - 2)))
        return level.expand_as(x).clone()
    if baseline == "blurred":
        return gaussian_blur(x, blur_sigma)
    raise ValueError(f"unknown baseline {baseline!r}; choose one of {BASELINES}")


def integrated_gradients(
    model: nn.Module,
    x: torch.Tensor,
    target: torch.Tensor,
    layers: Sequence[str] = (),
    steps: int = 64,
    step_rule: str = "riemann_middle",
    baseline: str = "zeros",
    black_level: Sequence[float] | None = None,
    blur_sigma: float = 5.0,
    internal_batch_size: int | None = 1024,
    channel_reduction: str = "sum_relu",
) -> Attribution:
    if channel_reduction not in CHANNEL_REDUCTIONS:
        raise ValueError(f"unknown channel_reduction {channel_reduction!r}; choose one of {CHANNEL_REDUCTIONS}")
    x = x.detach()
    n, target = x.shape[0], target.to(x.device)
    base = make_baseline(x, baseline, black_level, blur_sigma)
    diff = x - base
    alphas, weights = (t.to(device=x.device, dtype=x.dtype) for t in path_nodes(steps, step_rule))
    per_pass = steps if internal_batch_size is None else max(1, internal_batch_size // max(n, 1))
    x_fast, base_fast, diff_fast = fast_layout(x), fast_layout(base), fast_layout(diff)
    total = torch.zeros_like(x_fast)
    with torch.enable_grad():
        for start in range(0, steps, per_pass):  # passes of whole steps, only to bound memory
            a, w = alphas[start : start + per_pass], weights[start : start + per_pass]
            k, view = len(a), (-1,) + (1,) * x.ndim
            # the path points, written straight into one batch in the fast layout (no stacking, no copy)
            path = torch.empty(
                (k * n, *x.shape[1:]),
                dtype=x.dtype,
                device=x.device,
                memory_format=torch.channels_last
                if x.ndim == 4 and x.device.type == "cpu"
                else torch.contiguous_format,
            )  # as fast_layout
            points = path.view(k, *x.shape)
            torch.mul(a.view(view), diff_fast.unsqueeze(0), out=points)
            points.add_(base_fast.unsqueeze(0))
            path.requires_grad_(True)
            logits = model(path)
            # seeding the backward pass with each step's weight returns weighted gradients: the integral is
            # their plain sum over steps (a reduction read in place, no per-step products)
            seed = target_grad(logits, target.repeat(k)) * w.repeat_interleave(n).view(-1, 1).to(logits.dtype)
            (grad,) = torch.autograd.grad(logits, path, seed)
            total += grad.reshape(k, *x.shape).sum(0)
    attribution = (total * diff_fast).contiguous()
    with torch.no_grad():
        scores = model(fast_layout(torch.cat([x, base]))).gather(1, target.repeat(2).view(-1, 1)).squeeze(1)
    delta = scores[:n] - scores[n:]
    gap = (attribution.flatten(1).sum(1) - delta).abs() / delta.abs().clamp_min(1e-12)
    if channel_reduction == "sum_abs":
        maps = raw = attribution.abs().sum(dim=1)
    else:
        maps, raw = sum_relu_channels(attribution)
    return Attribution(
        maps=maps.unsqueeze(1),
        layers=["input"],
        raw=raw.unsqueeze(1),
        channels=attribution.unsqueeze(1),
        extras={"completeness_gap": gap},
    )


METHOD = Method(
    name="integrated_gradients",
    fn=integrated_gradients,
    layered=False,
    extra_outputs=("completeness",),
    caption=(
        "Integrated gradients, sum over channels then ReLU (seed 004 §II-B, §IV-B), one correctly"
        " classified test example per class; rows = classes, columns = input then the map"
    ),
    params=(
        "target",
        "steps",
        "step_rule",
        "baseline",
        "blur_sigma",
        "internal_batch_size",
        "amp",
        "channel_reduction",
    ),
    torchscript=True,
)
