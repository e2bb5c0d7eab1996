"""torchvision classification models by name, with the user's own weights file and a resized head.

No download ever happens: the model is built with random weights, then ``weights`` (a state dict
as torchvision publishes it, e.g. ``resnet18-f37072fd.pth``) is loaded from the file the user
supplies. The last linear layer is then replaced by one for the dataset's classes, and a first
convolution for another number of input channels sums (1 channel) or re-initialises its weights.
Every ``nn.ReLU`` is made out-of-place (same values): an in-place ReLU would overwrite a recorded
convolution output and the stored activations of the layer before it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..errors import UserError


def names() -> list[str]:
    """Every torchvision classification model name."""
    import torchvision

    return torchvision.models.list_models(module=torchvision.models)


def _replace(model: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, new)


def load_weights(model: nn.Module, weights: str | Path, arch: str, key: str = "model.weights") -> None:
    """Load a state dict from ``weights`` (a bare state dict, or a dict holding one under ``state_dict``);
    a missing file or keys that do not fit are UserErrors naming ``key`` and the file."""
    path = Path(weights)
    if not path.is_file():
        what = (
            "the ImageNet state dict (torchvision's published .pth file, see the README)"
            if key == "model.weights"
            else "the state dict of your trained model"
        )
        raise UserError(f"{key}: {path} does not exist; put {what} of {arch} there")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001  any unreadable file is the user's to replace
        raise UserError(f"{key}: {path} is not a readable PyTorch state dict ({err})") from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, TypeError) as err:
        first = " ".join(str(err).split())[:300]
        classes = "the 1000 ImageNet classes" if key == "model.weights" else "the dataset's classes and channels"
        raise UserError(
            f"{key}: {path} does not fit {arch} ({first}); give the state dict of exactly this "
            f"architecture with {classes}"
        ) from None


def build(arch: str, in_channels: int, num_classes: int, weights: str | None = None) -> nn.Module:
    """torchvision's ``arch`` (random or the weights in ``weights``), head resized to ``num_classes``."""
    import torchvision

    if arch not in names():
        raise UserError(
            f"model.arch: unknown architecture {arch!r}; use alexnet128, cnn1d, vgg7 or a torchvision "
            f"classification model name (e.g. vgg16, resnet18, resnet50, densenet121)"
        )
    kwargs = {"aux_logits": False, "init_weights": False} if arch in ("googlenet", "inception_v3") else {}
    model = torchvision.models.get_model(arch, weights=None, **kwargs)
    if weights:
        load_weights(model, weights, arch)
    for m in model.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    linears = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Linear)]
    convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    if not linears or not convs:
        raise UserError(f"model.arch: {arch} has no linear head or no 2-D convolution; it cannot be explained here")
    head_name, head = linears[-1]
    if head.out_features != num_classes:
        _replace(model, head_name, nn.Linear(head.in_features, num_classes, bias=head.bias is not None))
    conv_name, conv = convs[0]
    if conv.in_channels != in_channels:
        new = nn.Conv2d(
            in_channels,
            conv.out_channels,
            conv.kernel_size,
            conv.stride,
            conv.padding,
            conv.dilation,
            conv.groups,
            conv.bias is not None,
        )
        if weights and in_channels == 1:  # greyscale: the sum of the RGB filters sees a grey image as RGB did
            with torch.no_grad():
                new.weight.copy_(conv.weight.sum(1, keepdim=True))
                if conv.bias is not None:
                    new.bias.copy_(conv.bias)
        _replace(model, conv_name, new)
    return model
