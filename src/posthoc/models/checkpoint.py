"""Building a model from its description, and checkpoints that hold everything needed to rebuild it."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..io import atomic_path
from . import torchvision as tv
from .architectures import ARCHITECTURES, RANKS
from .gap import gap_model


def build_model(
    arch: str, in_channels: int, num_classes: int, input_shape, weights: str | None = None, **kwargs: Any
) -> nn.Module:
    """Build an architecture by name; ``input_shape`` is the per-sample spatial shape (L,) or (H, W).

    Own architectures take their keyword options; any other name is a torchvision classification
    model (``weights``: a torchvision state dict file to start from).
    """
    if arch in ARCHITECTURES:
        if len(input_shape) != RANKS[arch]:
            need = "1-D signals" if RANKS[arch] == 1 else "2-D images"
            other = "'cnn1d'" if RANKS[arch] == 2 else "'alexnet128'"
            raise ValueError(
                f"model.arch {arch!r} needs {need}, got per-sample shape {tuple(input_shape)}; use {other}"
            )
        if weights:
            raise ValueError(f"model.weights is for torchvision architectures; {arch!r} is trained from scratch")
        if arch == "cnn1d":
            kwargs["length"] = int(input_shape[0])
        return ARCHITECTURES[arch](in_channels, num_classes, **kwargs)
    if arch not in tv.names():
        raise ValueError(
            f"unknown model.arch {arch!r}; choose one of {sorted(ARCHITECTURES)} or a torchvision "
            f"classification model name"
        )
    if len(input_shape) != 2:
        raise ValueError(f"model.arch {arch!r} needs 2-D images, got per-sample shape {tuple(input_shape)}")
    if kwargs:
        raise ValueError(f"model options {sorted(kwargs)} do not apply to torchvision's {arch}")
    return tv.build(arch, in_channels, num_classes, weights)


def save_checkpoint(path, model: nn.Module, info: dict) -> None:
    """Save weights and everything needed to rebuild and use the model (atomic); a TorchScript model is
    stored whole (its serialised archive under ``torchscript``)."""
    if isinstance(model, torch.jit.ScriptModule):
        blob = {"torchscript": model.save_to_buffer(), "info": info}  # the archive torch.jit.save writes
    else:
        blob = {"state_dict": model.state_dict(), "info": info}
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)


def model_from_info(info: dict) -> nn.Module:
    """An untrained model of the checkpoint's layout (a GAPNet when ``info['gap_layer']`` is set)."""
    n = len(info["class_names"])
    model = build_model(info["arch"], info["in_channels"], n, info["input_shape"], **info["arch_kwargs"])
    if info.get("gap_layer"):
        model = gap_model(model, info["gap_layer"], info["in_channels"], info["input_shape"], n)
    return model


def load_checkpoint(path, map_location="cpu") -> tuple[nn.Module, dict]:
    """Load a checkpoint written by :func:`save_checkpoint` → ``(model in eval mode, info)``.

    ``info`` holds ``arch``, ``arch_kwargs``, ``class_names``, ``in_channels``, ``input_shape``,
    ``mean``, ``std``, ``pixel_scale``, ``layers`` (explained module paths, in order) and
    ``explain_layers`` (``rectified`` or ``conv``); a frozen-feature GAP model also ``gap_layer``. An imported
    TorchScript model (``arch``: ``torchscript``) comes back as the ``torch.jit.ScriptModule`` itself.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"checkpoint {path} not found; run the training rule first (snakemake {path})")
    blob = torch.load(path, map_location=map_location, weights_only=False)
    info = blob["info"]
    if "torchscript" in blob:
        return torch.jit.load(io.BytesIO(blob["torchscript"]), map_location=map_location).eval(), info
    model = model_from_info(info)
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model, info
