"""The architectures the study trains itself.

* ``alexnet128``: the AlexNet adapted to 128×128 inputs of seed 000 §3, with a ``width`` multiplier
  on every channel count and hidden size (1.0 = the paper's model).
* ``cnn1d``: a small 1-D CNN for MNIST-1D (seed 004 §III; the MNIST-1D paper's CNN family).
* ``vgg7``: the VGG-style network with 7 weight layers of seed 004 §IV (histology tiles), see :class:`VGG7`.

Each takes ``gap=True`` for its global-average-pooling variant (seeds 002, 003): the same conv
stack (without its last max-pool, so the pooled maps keep the last conv's resolution) → global
average pooling → one linear layer. Such a model names the module whose output is pooled
``pooled_layer`` and its linear layer ``head``. ReLUs are modules and not in-place, so a hook on a
convolution sees its own output and a hook on the ReLU after it the rectified map.
"""

from __future__ import annotations

import torch
from torch import nn


class AlexNet128(nn.Module):
    """AlexNet for 128×128 inputs (seed 000 §3); works for any input of at least ~40 px."""

    def __init__(self, in_channels: int, num_classes: int, width: float = 1.0, dropout: float = 0.5, gap: bool = False):
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

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        length: int,
        channels=(32, 32, 32),
        kernel_size: int = 5,
        stride: int = 1,
        dropout: float = 0.0,
        gap: bool = False,
    ):
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


class VGG7(nn.Module):
    """VGG-style network with 7 weight layers (seed 004 §IV, HMT histology tiles at 150 px).

    Layout (``width`` = 1): three blocks [conv3×3 32, conv3×3 32, max-pool 2], [64, 64, pool],
    [128, 128, pool] — six 3×3 convolutions, each followed by BatchNorm (``batch_norm``) and a ReLU —
    then adaptive average pooling to 4×4, dropout and one linear layer: 6 conv + 1 linear = 7 weight
    layers. Why this layout: seed 004 names the model but not its layers; VGG's defining trait is
    pairs of 3×3 convolutions between 2× poolings, and three such blocks take 150-px tiles to 18×18
    maps, fine enough for Grad-CAM on tissue structure, with a single linear layer keeping the weight
    count at seven (≈0.3 M parameters for 8 classes, trainable on CPU). BatchNorm lets it train at
    the study's default learning rate without warm-up.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        width: float = 1.0,
        dropout: float = 0.5,
        batch_norm: bool = True,
        gap: bool = False,
    ):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = in_channels
        for block, c in enumerate(max(1, round(c * width)) for c in (32, 64, 128)):
            for _ in range(2):
                layers += [nn.Conv2d(c_in, c, kernel_size=3, padding=1)]
                layers += [nn.BatchNorm2d(c)] if batch_norm else []
                layers += [nn.ReLU()]
                c_in = c
            if not (gap and block == 2):
                layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        self.pooled_layer = "features" if gap else None
        self.avgpool = nn.AdaptiveAvgPool2d(1 if gap else 4)
        self.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(c_in * (1 if gap else 16), num_classes))

    @property
    def head(self) -> nn.Linear:
        return self.classifier[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


ARCHITECTURES = {"alexnet128": AlexNet128, "cnn1d": CNN1D, "vgg7": VGG7}
#: the rank of the per-sample spatial shape each own architecture needs
RANKS = {"alexnet128": 2, "cnn1d": 1, "vgg7": 2}
