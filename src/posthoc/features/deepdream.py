"""DeepDream (seed 001 §4.3.3): feature visualisation of one layer started from real images."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .visualise import Result, Settings, layer_objective, visualise


def fit_image(rgb: np.ndarray, in_channels: int, size: tuple[int, int]) -> np.ndarray:
    """An (H, W, 3) image in [0, 255] or [0, 1] → (H', W', in_channels) float in [0, 1] at the model's size."""
    img = np.asarray(rgb, dtype=np.float32)
    img = img / 255.0 if img.max() > 1.5 else img
    t = torch.from_numpy(img).permute(2, 0, 1)[None]
    side = min(t.shape[2:])
    top, left = (t.shape[2] - side) // 2, (t.shape[3] - side) // 2
    t = F.interpolate(t[:, :, top : top + side, left : left + side], size=size, mode="area")[0].permute(1, 2, 0)
    if in_channels == 1:
        t = (t * torch.tensor([0.299, 0.587, 0.114])).sum(-1, keepdim=True)
    elif in_channels != 3:
        raise ValueError(f"cannot turn an RGB image into {in_channels} channels")
    return t.clamp(0, 1).numpy()


def dream(
    model: nn.Module, layer: str, images: torch.Tensor, settings: Settings, *, low=None, high=None, seed: int
) -> Result:
    """Amplify what ``layer`` sees in each of ``images`` (one batch): maximise its sum of squares."""
    return visualise(model, layer_objective([layer] * len(images)), images, settings, low=low, high=high, seed=seed)
