"""Which layers of a model are explained (Grad-CAM, guided Grad-CAM, DeconvNet, occlusion's activation panel).

``explain_layers`` (config ``model.explain_layers``):

* ``rectified``: the rectified output of each convolution — the ``nn.ReLU`` module that follows it
  (after an optional BatchNorm), as Grad-CAM's paper, pytorch-grad-cam and torchcam explain them
  (e.g. VGG16's ``features.29``). A convolution with no ReLU module after it (a functional ReLU in
  ``forward``) is explained at its own output.
* ``conv``: the convolution outputs themselves, before the ReLU.

Models built of residual or dense blocks are explained at their block outputs in both modes:
ResNet-like models (``layer1``..``layer4``; each is the ReLU of a residual sum) and DenseNets
(``features.denseblock1``..``4``); their convolutions inside a block are not separately meaningful.
"""

from __future__ import annotations

from torch import nn

EXPLAIN_LAYERS = ("rectified", "conv")
_CONV = (nn.Conv1d, nn.Conv2d)
_NORM = (nn.BatchNorm1d, nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.Identity)
_RELU = (nn.ReLU, nn.ReLU6)


def block_layers(model: nn.Module) -> list[str] | None:
    """The block outputs of ResNet- and DenseNet-like models, else None."""
    top = dict(model.named_children())
    if all(f"layer{i}" in top for i in range(1, 5)):
        return [f"layer{i}" for i in range(1, 5)]
    features = top.get("features")
    if features is not None:
        dense = [f"features.{n}" for n, _ in features.named_children() if n.startswith("denseblock")]
        if dense:
            return dense
    return None


def explainable_layers(model: nn.Module, mode: str = "rectified") -> list[str]:
    """Module paths of the explained layers, in forward order (see the module docstring)."""
    if mode not in EXPLAIN_LAYERS:
        raise ValueError(f"model.explain_layers must be one of {EXPLAIN_LAYERS}, got {mode!r}")
    blocks = block_layers(model)
    if blocks is not None:
        return blocks
    leaves = [(n, m) for n, m in model.named_modules() if not m._modules]
    out, pending = [], None
    for name, m in leaves:
        if pending is not None and isinstance(m, _NORM):
            continue
        if pending is not None:
            out.append(name if isinstance(m, _RELU) and mode == "rectified" else pending)
            pending = None
        if isinstance(m, _CONV):
            pending = name
    if pending is not None:
        out.append(pending)
    return out
