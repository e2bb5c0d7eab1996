"""Between stored arrays and model inputs: normalisation on the fly and back for display.

Stored images are uint8 (N, H, W, C) and signals float32 (N, L); models take float32
(N, C, H, W) or (N, 1, L) normalised by the training split's per-channel mean and std (EDA).
"""

from __future__ import annotations

import numpy as np
import torch

from posthoc.errors import UserError


def checked_std(std) -> list[float]:
    """``std`` as floats, or a UserError when one would make normalisation NaN/inf (0, negative, not finite)."""
    values = [float(s) for s in np.atleast_1d(np.asarray(std, dtype=np.float64))]
    if not values or not all(np.isfinite(values)) or min(values) <= 0:
        raise UserError(
            f"normalisation std {values} has a zero, negative or non-finite value, which would turn inputs into "
            "NaN/inf; re-run the eda step so stats.json is rewritten (constant channels get std 1 there)"
        )
    return values


def to_model_input(samples: np.ndarray, mean, std, pixel_scale: float) -> torch.Tensor:
    """uint8 (N,H,W,C) or float (N,L) → normalised float32 (N,C,H,W) or (N,1,L)."""
    return normalise_tensor(torch.from_numpy(np.array(samples)), mean, std, pixel_scale)


def normalise_tensor(stored: torch.Tensor, mean, std, pixel_scale: float) -> torch.Tensor:
    """Stored samples as a tensor (uint8 (N,H,W,C) or float (N,L), on any device) → normalised float32
    (N,C,H,W) or (N,1,L) on the same device (the input path converts on the GPU with this)."""
    if stored.ndim == 4:
        n, h, w, c = stored.shape
        x = torch.empty((n, c, h, w), dtype=torch.float32, device=stored.device)
        x.copy_(stored.permute(0, 3, 1, 2))  # convert and transpose in one pass
    elif stored.ndim == 2:
        x = stored.to(torch.float32).unsqueeze(1).contiguous()
    else:
        raise ValueError(f"expected images (N,H,W,C) or signals (N,L), got shape {tuple(stored.shape)}")
    # in place, in this order: the same float32 operations as ((x / scale) - mean) / std, one buffer
    shape = (1, -1) + (1,) * (x.ndim - 2)
    x.div_(float(pixel_scale))
    x.sub_(torch.as_tensor(mean, dtype=torch.float32, device=x.device).reshape(shape))
    return x.div_(torch.as_tensor(checked_std(std), dtype=torch.float32, device=x.device).reshape(shape))


def to_display(x: np.ndarray | torch.Tensor, mean, std) -> np.ndarray:
    """Normalised model inputs → display arrays: images (N,H,W,C) in [0,1], signals (N,L)."""
    x = torch.as_tensor(x, dtype=torch.float32)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    x = x * torch.as_tensor(std, dtype=torch.float32).reshape(shape) + torch.as_tensor(
        mean, dtype=torch.float32
    ).reshape(shape)
    if x.ndim == 4:
        return x.clamp(0, 1).permute(0, 2, 3, 1).numpy()
    return x[:, 0].numpy()
