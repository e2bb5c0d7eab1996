"""Model architectures and checkpoints.

* ``alexnet128``: the AlexNet adapted to 128×128 inputs of seed 000 §3, with a ``width`` multiplier
  on every channel count and hidden size (1.0 = the paper's model).
* ``cnn1d``: a small 1-D CNN for MNIST-1D (seed 004 §III; the MNIST-1D paper's CNN family).

Both take ``gap=True`` for their global-average-pooling variant (seeds 002, 003): the same conv
stack (AlexNet without its last max-pool, so the pooled maps keep the last conv's resolution) →
global average pooling → one linear layer. Such a model names the module whose output is pooled
``pooled_layer`` and its linear layer ``head``.

Every model exposes ``explainable_layers``: the ordered module paths of its convolution layers,
usable with ``model.get_submodule``. ReLUs are not in-place, so a hook on a convolution sees its
own output, untouched by the activation that follows.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from .io import atomic_path


class AlexNet128(nn.Module):
    """AlexNet for 128×128 inputs (seed 000 §3); works for any input of at least ~40 px."""

    def __init__(self, in_channels: int, num_classes: int, width: float = 1.0, dropout: float = 0.5,
                 gap: bool = False):
        super().__init__()
        c1, c2, c3, c4, c5 = (max(1, round(c * width)) for c in (64, 192, 384, 256, 256))
        hidden = max(1, round(4096 * width))
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, c1, kernel_size=5, stride=2, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c1, c2, kernel_size=5, stride=1, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c3, c4, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(c4, c5, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
        self.pooled_layer = "features" if gap else None
        if gap:
            del self.features[-1]
            self.avgpool = nn.AdaptiveAvgPool2d(1)
            self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c5, num_classes))
            return
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self.classifier = nn.Sequential(
            nn.Dropout(dropout),
            nn.Linear(c5 * 6 * 6, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )

    @property
    def head(self) -> nn.Linear:
        return self.classifier[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.avgpool(self.features(x))
        return self.classifier(torch.flatten(x, 1))


class CNN1D(nn.Module):
    """Stacked 1-D convolutions + ReLU, then a linear classifier on the flattened features."""

    def __init__(self, in_channels: int, num_classes: int, length: int, channels=(32, 32, 32),
                 kernel_size: int = 5, stride: int = 1, dropout: float = 0.0, gap: bool = False):
        super().__init__()
        layers: list[nn.Module] = []
        c_in, L = in_channels, length
        for c_out in channels:
            layers += [nn.Conv1d(c_in, c_out, kernel_size, stride=stride, padding=kernel_size // 2), nn.ReLU()]
            L = (L + 2 * (kernel_size // 2) - kernel_size) // stride + 1
            c_in = c_out
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool1d(1) if gap else nn.Identity()
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_in * (1 if gap else L), num_classes))
        self.pooled_layer = "features" if gap else None

    @property
    def head(self) -> nn.Linear:
        return self.classifier[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


ARCHITECTURES = {"alexnet128": AlexNet128, "cnn1d": CNN1D}


def build_model(arch: str, in_channels: int, num_classes: int, input_shape, **kwargs: Any) -> nn.Module:
    """Build an architecture by name; ``input_shape`` is the per-sample spatial shape (L,) or (H, W)."""
    if arch == "alexnet128":
        if len(input_shape) != 2:
            raise ValueError(f"model.arch 'alexnet128' needs 2-D images, got per-sample shape {tuple(input_shape)}; use 'cnn1d'")
        return AlexNet128(in_channels, num_classes, **kwargs)
    if arch == "cnn1d":
        if len(input_shape) != 1:
            raise ValueError(f"model.arch 'cnn1d' needs 1-D signals, got per-sample shape {tuple(input_shape)}; use 'alexnet128'")
        return CNN1D(in_channels, num_classes, length=int(input_shape[0]), **kwargs)
    raise ValueError(f"unknown model.arch {arch!r}; choose one of {sorted(ARCHITECTURES)}")


def explainable_layers(model: nn.Module) -> list[str]:
    """Module paths of the convolution layers, in forward order."""
    return [name for name, m in model.named_modules() if isinstance(m, (nn.Conv1d, nn.Conv2d))]


def save_checkpoint(path, model: nn.Module, info: dict) -> None:
    """Save weights and everything needed to rebuild and use the model (atomic)."""
    with atomic_path(path) as tmp:
        torch.save({"state_dict": model.state_dict(), "info": info}, tmp)


def load_checkpoint(path, map_location="cpu") -> tuple[nn.Module, dict]:
    """Load a checkpoint written by :func:`save_checkpoint` → ``(model in eval mode, info)``.

    ``info`` holds ``arch``, ``arch_kwargs``, ``class_names``, ``in_channels``, ``input_shape``,
    ``mean``, ``std``, ``pixel_scale`` and ``layers`` (explainable module paths, in order).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} not found; run the training rule first (snakemake {path})")
    blob = torch.load(path, map_location=map_location, weights_only=False)
    info = blob["info"]
    model = build_model(info["arch"], info["in_channels"], len(info["class_names"]), info["input_shape"],
                        **info["arch_kwargs"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model, info
