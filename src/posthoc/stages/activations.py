"""Stage: what every explained layer does on the test split (seed 002 §A, seed 003).

One batched pass over the test split records, per layer and channel, the top-k test images (value
and argmax position), the per-class mean activation and the layer's statistics
(:mod:`posthoc.features.records`). Outputs (``results/{dataset}/activations/``):

* ``top.npz`` — the contract: ``layers`` and per layer i ``index_{i}``, ``value_{i}``, ``position_{i}``;
* ``summary.npz`` — ``layers``, ``class_names`` and per layer i ``class_mean_{i}`` (channels × classes),
  ``mean_{i}``, ``max_{i}``, ``best_mean_{i}`` (largest spatial mean over test images) and
  ``max_std_{i}`` (spread of the per-image maxima) per channel;
* ``layers.csv`` — per layer: channels, output shape, receptive field, mean and max activation;
* figures: feature maps of one example per class, the class × channel heat map of the last layer,
  the first layer's filters and the maximally activating patches of the most variable channels.

A multi-label dataset (:mod:`posthoc.tasks`): ``class_mean`` is per label, the mean over the test images
carrying that label (images with several labels count for each, images with none for no label), and the
feature maps show the first test image carrying each label.
"""

from __future__ import annotations


import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .. import io, tasks
from ..plots import features as plots_features
from ..errors import UserError
from ..explain.base import capture
from ..features.patches import top_patches
from ..features.receptive import Field, receptive_field
from ..features.records import most_variable, record
from ..preprocess import to_display
from ..train import batches
from .explain import load_explained, one_per_class


def display(x: np.ndarray, info: dict) -> np.ndarray:
    """Model inputs (NaN outside the input allowed) → display arrays; NaN stays NaN."""
    shown = to_display(np.nan_to_num(x), info["mean"], info["std"])
    shown[np.isnan(x).any(1)] = np.nan  # (N, *spatial) mask: every channel of an image, the sample of a signal
    return shown


def field_or_whole_input(model, layer: str, input_shape) -> Field:
    """The layer's receptive field, or the whole input where the arithmetic does not reach (e.g. residual
    blocks): its patches are then whole inputs, and layers.csv says so."""
    ndim = len(input_shape)
    try:
        return receptive_field(model, layer, ndim)
    except ValueError:
        return Field(size=tuple(int(n) for n in input_shape), jump=(0,) * ndim, pad=(0,) * ndim)


def run(
    *,
    dataset: str,
    meta: str,
    checkpoint: str,
    predictions: str,
    top: str,
    summary,
    table,
    feature_maps,
    class_heatmap,
    filters,
    patches,
    k: int,
    n_channels: int,
    n_maps: int,
    batch_size: int,
    device: str,
) -> dict:
    if k < 1 or n_channels < 1 or n_maps < 1:
        raise UserError("activations.k, activations.n_channels and activations.n_maps must be at least 1")
    model, info, dev, normalise, test, (labels, preds, _) = load_explained(meta, checkpoint, predictions, device)
    layers, names, task = list(info["layers"]), info["class_names"], tasks.get(info.get("task"))
    labels = np.asarray(labels) if task.multi_label else np.asarray(labels).reshape(len(labels), -1)[:, 0]
    n = len(labels)
    stream = ((normalise(test.images[s]).to(dev), labels[s]) for s in batches(n, batch_size))
    rec = record(
        model,
        layers,
        tqdm(stream, total=-(-n // batch_size), desc=f"activations ({n} test rows)", mininterval=5),
        len(names),
        k,
    )
    per = rec.per_layer
    io.save_npz(
        top,
        layers=np.array(layers),
        **{f"{key}_{i}": r[key] for i, r in enumerate(per) for key in ("index", "value", "position")},
    )
    io.save_npz(
        summary,
        layers=np.array(layers),
        class_names=np.array(names),
        **{
            f"{key}_{i}": r[key]
            for i, r in enumerate(per)
            for key in ("class_mean", "mean", "max", "best_mean", "max_std")
        },
    )
    fields = [field_or_whole_input(model, layer, info["input_shape"]) for layer in layers]
    io.save_csv(
        table,
        pd.DataFrame(
            {
                "layer": layers,
                "channels": [len(r["mean"]) for r in per],
                "receptive_field": ["×".join(map(str, f.size)) if any(f.jump) else "whole input" for f in fields],
                "stride": ["×".join(map(str, f.jump)) if any(f.jump) else "–" for f in fields],
                "mean_activation": [float(r["mean"].mean()) for r in per],
                "max_activation": [float(r["max"].max()) for r in per],
                "dead_channels": [int((r["max"] <= 0).sum()) for r in per],
            }
        ),
    )

    # feature maps of one example per class: one forward, the n_maps most active channels of each layer
    examples, shown_class = one_per_class(labels, preds, len(names), task)
    x = normalise(test.images[examples]).to(dev)
    with torch.no_grad(), capture(model, layers) as store:
        model(x)
        acts = [store[layer].float().cpu() for layer in layers]
    chosen = [a.flatten(2).mean(2).argsort(1, descending=True)[:, :n_maps] for a in acts]
    maps = [
        a.gather(1, c.view(*c.shape, *[1] * (a.ndim - 2)).expand(*c.shape, *a.shape[2:])).numpy()
        for a, c in zip(acts, chosen)
    ]
    shown = to_display(x.cpu(), info["mean"], info["std"])
    io.save_figure(
        plots_features.feature_maps(
            shown,
            maps,
            [c.numpy() for c in chosen],
            [f"{names[c]}\n(test row {i})" for i, c in zip(examples, shown_class)],
            layers,
            f"{info['dataset']}: feature maps of one test example per "
            f"{'label' if task.multi_label else 'class'}, the {n_maps} most active channels of each layer",
        ),
        feature_maps,
    )
    io.save_figure(
        plots_features.class_channel_heatmap(
            per[-1]["class_mean"],
            names,
            layers[-1],
            f"{info['dataset']}: mean activation per "
            + ("label (over the images carrying it)" if task.multi_label else "class")
            + f", last explained layer ({layers[-1]})",
        ),
        class_heatmap,
    )
    first = model.get_submodule(layers[0])
    weight = getattr(first, "weight", None)
    if weight is None:  # e.g. a ReLU as first explained layer: the convolution that feeds it
        weight = next(m.weight for m in model.modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d)))
    io.save_figure(
        plots_features.filters(
            weight.detach().cpu().numpy(), "first convolution", f"{info['dataset']}: filters of the first convolution"
        ),
        filters,
    )

    # maximally activating patches of the most variable channels of every layer
    chans = [most_variable(r["max_std"], n_channels) for r in per]
    load = lambda rows: normalise(test.images[np.sort(rows)]).numpy()  # noqa: E731  rows arrive sorted (np.unique)
    cropped = [top_patches(load, r["index"], r["position"], c, f, k) for r, c, f in zip(per, chans, fields)]
    shown_patches = [
        display(p.reshape(-1, *p.shape[2:]), info).reshape(*p.shape[:2], *display(p[:1, 0], info).shape[1:])
        for p in cropped
    ]
    io.save_figure(
        plots_features.top_patches(
            shown_patches,
            [r["value"][c, :k] for r, c in zip(per, chans)],
            chans,
            layers,
            [f.size for f in fields],
            f"{info['dataset']}: maximally activating test patches (receptive "
            f"field around the argmax) of the {n_channels} most variable channels "
            "per layer; value above each patch",
        ),
        patches,
    )
    for layer, r, f in zip(layers, per, fields):
        print(
            f"{layer}: {len(r['mean'])} channels, receptive field {f.size}, mean {r['mean'].mean():.3f}, "
            f"max {r['max'].max():.3f}, top value of best channel {r['value'][:, 0].max():.3f}"
        )
    return {"layers": layers}
