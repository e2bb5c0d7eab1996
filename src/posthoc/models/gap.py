"""CAM's model: global average pooling + one linear layer on the FROZEN features of a trained model.

Seed 003's way: the dataset's own model up to its last explained layer is kept as it is (the
"trunk"), its maps are averaged over positions and only a new linear layer is trained on them.
CAM then explains the same feature extractor as every other method, and training costs one pass
of feature extraction plus a linear fit (seconds to minutes), not a second full training.
``GAPNet`` is such a model; Grad-CAM at its ``pooled_layer`` equals CAM up to a positive scale.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .. import tasks


def trunk(model: nn.Module, layer: str) -> nn.Sequential:
    """The model's modules from the input up to (and including) ``layer``, as one Sequential.

    Assumes the model's forward runs its top-level children (and the children of the one holding
    ``layer``) in registration order, as AlexNet, VGG, ResNet and DenseNet do.
    """
    head, _, rest = layer.partition(".")
    modules: list[nn.Module] = []
    for name, child in model.named_children():
        if name != head:
            modules.append(child)
            continue
        if not rest:
            modules.append(child)
        else:
            modules.append(trunk(child, rest) if isinstance(child, nn.Sequential) else child)
        return nn.Sequential(*modules)
    raise ValueError(f"layer {layer!r} is not a child path of the model")


class GAPNet(nn.Module):
    """trunk → global average pooling → linear (``pooled_layer = "trunk"``, ``head`` the linear layer)."""

    pooled_layer = "trunk"

    def __init__(self, trunk_module: nn.Module, channels: int, num_classes: int, ndim: int):
        super().__init__()
        self.trunk = trunk_module
        self.avgpool = nn.AdaptiveAvgPool1d(1) if ndim == 1 else nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Linear(channels, num_classes))

    @property
    def head(self) -> nn.Linear:
        return self.classifier[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.trunk(x)), 1))


def gap_model(model: nn.Module, layer: str, in_channels: int, input_shape, num_classes: int) -> GAPNet:
    """A GAPNet on ``model``'s trunk up to ``layer`` (shared modules: the trunk IS the model's)."""
    body = trunk(model, layer)
    was_training = body.training
    body.eval()
    with torch.no_grad():
        param = next(body.parameters())
        channels = body(torch.zeros(1, in_channels, *input_shape, dtype=param.dtype, device=param.device)).shape[1]
    body.train(was_training)
    return GAPNet(body, int(channels), num_classes, len(input_shape)).to(dtype=param.dtype, device=param.device)


def fit_head(
    head: nn.Linear,
    features: torch.Tensor,
    labels: np.ndarray,
    val: tuple[torch.Tensor, np.ndarray],
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float,
    seed: int,
    task: str | None = None,
) -> list[dict]:
    """Adam + the loss of ``task`` (:mod:`posthoc.tasks`: cross-entropy, or binary cross-entropy with logits for
    a multi-label model, as its trunk was trained) on pooled features (N, C); one history row per epoch, with
    the columns of ``train.fit`` (multi-label: label-wise accuracies and ``val_auc``)."""
    from ..train import split_scores

    spec = tasks.get(task)
    y = spec.targets(np.asarray(labels, dtype=np.int64))
    opt = torch.optim.Adam(head.parameters(), lr=lr, weight_decay=weight_decay)
    history = []
    for epoch in range(epochs):
        order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        total, correct = 0.0, 0.0
        for start in range(0, len(y), batch_size):
            idx = order[start : start + batch_size]
            logits = head(features[idx])
            loss = spec.loss(logits, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
            correct += spec.correct(logits.detach(), y[idx]).sum().item()
        with torch.no_grad():
            scores = split_scores(head(val[0]), val[1], task)
        history.append(
            {
                "epoch": epoch + 1,
                "train_loss": total / len(y),
                "train_acc": correct / len(y),
                "val_loss": scores["loss"],
                "val_acc": scores["accuracy"],
                **({"val_auc": scores["mean_auc"]} if spec.multi_label else {}),
            }
        )
    return history
