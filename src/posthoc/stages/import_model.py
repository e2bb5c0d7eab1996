"""Stage: take in an existing model (``model.checkpoint``) instead of training one.

The file is either a state dict of ``model.arch`` (a bare ``model.state_dict()``, or a dict holding it under
``state_dict``) or a TorchScript file (``torch.jit.save``). It is checked against the dataset (keys and shapes
of the state dict; the TorchScript model's output for a batch of training images must be one logit per class),
then written as our checkpoint with its ``info`` (class names, task, normalisation from the config) and scored
on every split, so every later stage reads it as it reads a trained model.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import torch

from .. import data, io, models
from ..errors import UserError
from ..io import is_torchscript
from ..train import Normaliser, select_device
from .train import architecture_options, model_info, score_splits, spatial_shape

KEY = "model.checkpoint"


def _scripted(path: str, meta: dict, normalise: Normaliser, sample) -> torch.nn.Module:
    """The TorchScript model of ``path``, after checking that it gives one logit per class."""
    try:
        model = torch.jit.load(path, map_location="cpu").eval()
    except Exception as err:  # noqa: BLE001  any unreadable file is the user's to replace
        raise UserError(f"{KEY}: {path} is not a readable TorchScript file ({err})") from None
    n_classes = len(meta["class_names"])
    try:
        with torch.no_grad():
            out = model(normalise(sample))
    except Exception as err:  # noqa: BLE001
        first = " ".join(str(err).split())[:300]
        raise UserError(
            f"{KEY}: the TorchScript model {path} fails on this dataset's inputs (shape "
            f"{tuple(normalise(sample).shape)}): {first}"
        ) from None
    if not isinstance(out, torch.Tensor) or out.shape != (len(sample), n_classes):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise UserError(
            f"{KEY}: the TorchScript model {path} returns {shape} for {len(sample)} images; it must return "
            f"logits ({len(sample)}, {n_classes}), one per class of the dataset in the order of its class names"
        )
    return model


def run(
    *,
    dataset: str,
    meta: str,
    stats: str,
    checkpoint: str,
    scores: str,
    model: dict,
    seed: int,
    device: str,
) -> dict:
    """Validate the file of ``model.checkpoint`` and write it as ``checkpoint`` (with ``info``) and its ``scores``."""
    data_dir = str(Path(meta).parent)
    out_checkpoint, out_scores, model_cfg = checkpoint, scores, model
    meta, stats = data.read_meta(data_dir), io.load_json(stats)
    source = model_cfg["checkpoint"]
    if not Path(source).is_file():
        raise UserError(f"{KEY}: {source} does not exist; put the state dict or TorchScript file of your model there")
    splits = {s: data.load_split(data_dir, s) for s in ("train", "val", "test")}
    if is_torchscript(source):
        info = model_info(meta, stats, model_cfg, None, seed, epochs=0, source=source)
        normalise = Normaliser(info["mean"], info["std"], info["pixel_scale"])
        net = _scripted(source, meta, normalise, splits["train"].images[:2])
    else:
        net = models.build_model(
            model_cfg["arch"],
            meta["channels"],
            len(meta["class_names"]),
            spatial_shape(meta),
            **architecture_options(model_cfg),
        )
        models.torchvision.load_weights(net, source, model_cfg["arch"], key=KEY)
        info = model_info(meta, stats, model_cfg, net, seed, epochs=0, source=source)
        normalise = Normaliser(info["mean"], info["std"], info["pixel_scale"])
    result = score_splits(net, splits, normalise, meta.get("task"), select_device(device))
    net.cpu()
    io.save_json(out_scores, result)
    models.save_checkpoint(out_checkpoint, net, info)
    print(f"{dataset}: imported {source}\n" + pd.DataFrame(result).T.to_string())
    return result
