"""Stage: feature visualisation, class visualisation and DeepDream (seed 001 ch. 4, seed 002 §B).

All requests go through one engine (:mod:`posthoc.features.visualise`), each as ONE batch:

* channels: the ``n_channels`` most variable channels of every explained layer (rows = (layer,
  channel) pairs) with the configured regularisers → ``channels.npz`` (``layers``, ``x_{i}``,
  ``channel_{i}``) and a figure (rows = layers);
* whole layers (sum of squared activations, seed 001 Program 4.4): one row per layer → figure;
* classes: every class logit, under four settings side by side (plain gradient ascent; multiscale;
  multiscale + blur; the configured default, which adds jitter/rotation/scale and TV) → figure, and
  the configured default → ``classes.npz`` (``x``, ``target``);
* DeepDream (seed 001 §4.3.3): one test image per class, plus scikit-image's immunohistochemistry
  slide for image models, with one layer amplified → figure.

``scores.csv`` compares every visualisation with the natural test images on what it maximises: a
class visualisation's logit against the largest logit of that class over the test split, a channel
visualisation's spatial mean against the largest spatial mean over test images (``beats``), and
the channel's largest value against its best test image in ``top.npz`` (``beats_peak``).

A multi-label dataset (:mod:`posthoc.tasks`): a class visualisation maximises one label's logit (its sigmoid is
monotone in it), one row per label; DeepDream starts from the first test image carrying each label.
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
from ..features.deepdream import dream, fit_image
from ..features.records import most_variable
from ..features.visualise import (
    Settings,
    channel_objective,
    class_objective,
    layer_objective,
    noise_start,
    settings_from_config,
    visualise,
)
from ..preprocess import to_display
from ..train import batches
from .explain import load_explained, one_per_class


def _bounds(info: dict, ndim: int):
    """Per-channel range of valid pixels in model space (images); signals are unbounded."""
    if ndim == 1:
        return None, None
    mean, std = torch.tensor(info["mean"], dtype=torch.float32), torch.tensor(info["std"], dtype=torch.float32)
    return (0 - mean) / std, (1 - mean) / std


def _shown(x: torch.Tensor, info: dict) -> np.ndarray:
    """Visualisations for display: images in [0, 1]; signals as they are."""
    return to_display(x.detach().cpu(), info["mean"], info["std"])


def _check(settings: dict, deepdream: dict, n_layers: int) -> None:
    if settings["start"] not in ("noise", "image"):
        raise UserError(f"feature_vis.start must be 'noise' or 'image', got {settings['start']!r}")
    if not -n_layers <= deepdream["layer"] < n_layers:
        raise UserError(
            f"feature_vis.deepdream.layer {deepdream['layer']} is not an index of the model's "
            f"{n_layers} explained layers; use -1 for the last"
        )


def run(
    *,
    dataset: str,
    meta: str,
    checkpoint: str,
    predictions: str,
    top: str,
    summary: str,
    classes: str,
    channels,
    class_figure,
    channel_figure,
    layer_figure,
    dream_figure,
    scores,
    settings: dict,
    n_channels: int,
    deepdream: dict,
    seed: int,
    device: str,
) -> pd.DataFrame:
    model, info, dev, normalise, test, (labels, preds, _) = load_explained(meta, checkpoint, predictions, device)
    layers, names, task = list(info["layers"]), info["class_names"], tasks.get(info.get("task"))
    _check(settings, deepdream, len(layers))
    tops = np.load(top)
    if list(tops["layers"]) != layers:
        raise UserError(
            f"{top} was recorded for layers {list(tops['layers'])}, the checkpoint explains {layers}; "
            "rerun the activations rule"
        )
    base = settings_from_config(settings)
    shape = (info["in_channels"], *info["input_shape"])
    ndim = len(info["input_shape"])
    low, high = _bounds(info, ndim)
    examples, example_class = one_per_class(labels, preds, len(names), task)
    rows = []

    # --- channels of every layer, one batch
    spread = np.load(summary)
    chosen = [most_variable(spread[f"max_std_{i}"], n_channels) for i in range(len(layers))]  # as the patches
    layer_of_row = [layer for layer, c in zip(layers, chosen) for _ in c]
    channel_of_row = np.concatenate(chosen)
    best_rows = np.concatenate([tops[f"index_{i}"][c, 0] for i, c in enumerate(chosen)])
    start = _start(settings["start"], len(channel_of_row), shape, low, high, seed, normalise, test, best_rows)
    with tqdm(total=base.steps * base.levels, desc=f"channels ({len(channel_of_row)} rows)", mininterval=5) as bar:
        res = visualise(
            model.to(dev),
            channel_objective(layer_of_row, channel_of_row),
            start.to(dev),
            base,
            low=low,
            high=high,
            seed=seed,
            progress=bar,
        )
    peak = _channel_peak(model, res.x, layer_of_row, channel_of_row)
    natural = np.concatenate([spread[f"best_mean_{i}"][c] for i, c in enumerate(chosen)])
    natural_peak = np.concatenate([tops[f"value_{i}"][c, 0] for i, c in enumerate(chosen)])
    rows += [
        dict(
            kind="channel",
            layer=l,
            target=int(c),
            visualisation=float(v),
            best_natural=float(b),
            beats=bool(v > b),
            peak=float(p),
            best_natural_peak=float(bp),
            beats_peak=bool(p > bp),
        )
        for l, c, v, b, p, bp in zip(layer_of_row, channel_of_row, res.final, natural, peak, natural_peak)
    ]
    split = np.cumsum([len(c) for c in chosen])[:-1]
    xs = np.split(res.x.detach().cpu().numpy().astype(np.float32), split)
    io.save_npz(
        channels,
        layers=np.array(layers),
        **{f"x_{i}": x for i, x in enumerate(xs)},
        **{f"channel_{i}": c for i, c in enumerate(chosen)},
    )
    shown = np.split(_shown(res.x, info), split)
    io.save_figure(
        plots_features.panel_grid(
            [list(s) for s in shown],
            [f"layer {i + 1}\n{layer}" for i, layer in enumerate(layers)],
            [[f"ch {int(c)}: {v:.2f}" for c, v in zip(ch, np.split(peak, split)[i])] for i, ch in enumerate(chosen)],
            f"{info['dataset']}: channel visualisations of the {n_channels} most variable channels per layer "
            f"(default regularisers; value = largest activation)",
        ),
        channel_figure,
    )

    # --- whole layers, one batch (one row per layer)
    start = noise_start(len(layers), shape, low, high, seed + 1)
    res_layers = visualise(model, layer_objective(layers), start.to(dev), base, low=low, high=high, seed=seed + 1)
    io.save_figure(
        plots_features.panel_grid(
            [list(_shown(res_layers.x, info))],
            [""],
            [[f"{i + 1}: {layer}" for i, layer in enumerate(layers)]],
            f"{info['dataset']}: layer visualisations (maximise the sum of squared activations of the whole layer)",
        ),
        layer_figure,
    )

    # --- classes: four settings side by side, each one batch over all classes
    logits = _test_logits(model, normalise, test, dev)
    targets = np.arange(len(names))
    variants = {
        "plain gradient ascent": Settings(**{**base.plain().__dict__, "steps": base.steps * base.levels}),
        "multiscale": Settings(**{**base.plain().__dict__, "levels": base.levels, "growth": base.growth}),
        "multiscale + blur": Settings(
            **{**base.plain().__dict__, "levels": base.levels, "growth": base.growth, "blur_sigma": base.blur_sigma}
        ),
        "default (+ jitter, TV)": base,
    }
    start = _start(settings["start"], len(targets), shape, low, high, seed + 2, normalise, test, examples)
    results = {}
    for name, s in tqdm(
        variants.items(), desc=f"classes ({len(targets)} rows × {len(variants)} settings)", mininterval=5
    ):  # a handful of settings; every class of one setting is one batch
        results[name] = visualise(model, class_objective(targets), start.to(dev), s, low=low, high=high, seed=seed + 2)
    final = results["default (+ jitter, TV)"]
    io.save_npz(classes, x=final.x.detach().cpu().numpy().astype(np.float32), target=targets.astype(np.int64))
    best_logit = logits.max(0).values.numpy()
    rows += [
        dict(
            kind="class",
            layer="logits",
            target=int(t),
            visualisation=float(v),
            best_natural=float(b),
            beats=bool(v > b),
            peak=float(v),
            best_natural_peak=float(b),
            beats_peak=bool(v > b),
        )
        for t, v, b in zip(targets, final.final, best_logit)
    ]
    shown = {name: _shown(r.x, info) for name, r in results.items()}
    io.save_figure(
        plots_features.panel_grid(
            [[shown[v][t] for v in variants] for t in targets],
            [str(n) for n in names],
            [[f"logit {results[v].final[t]:.3g}" for v in variants] for t in targets],
            f"{info['dataset']}: class visualisations under four settings (best test-image logit per class: "
            f"{', '.join(f'{b:.3g}' for b in best_logit)})",
            col_labels=list(variants),
        ),
        class_figure,
    )

    # --- DeepDream from real images
    layer = layers[deepdream["layer"]]
    start = normalise(test.images[examples])
    titles = [str(names[c]) for c in example_class]
    if ndim == 2:
        slide = fit_image(_immunohistochemistry(), info["in_channels"], tuple(info["input_shape"]))
        start = torch.cat([start, normalise((slide[None] * info["pixel_scale"]).astype(np.float32))])
        titles.append("IHC slide (scikit-image)")
    dd = Settings(
        steps=deepdream["steps"],
        lr=deepdream["lr"],
        normalise_grad=True,
        levels=deepdream["levels"],
        growth=deepdream["growth"],
        blur_sigma=deepdream["blur_sigma"],
        jitter=deepdream["jitter"],
    )
    res_dream = dream(model, layer, start.to(dev), dd, low=low, high=high, seed=seed + 3)
    before, after = _shown(start, info), _shown(res_dream.x, info)
    if ndim == 1:
        cells = [[[b, a] for b, a in zip(before, after)]]
        fig = plots_features.panel_grid(
            cells,
            [""],
            [titles],
            f"{info['dataset']}: DeepDream on {layer} — original (grey) and dreamed (red) signal",
            legend=["original", "dreamed"],
        )
    else:
        fig = plots_features.panel_grid(
            [list(before), list(after)],
            ["original", f"dreamed\n({layer})"],
            [titles, [""] * len(titles)],
            f"{info['dataset']}: DeepDream — amplify what {layer} sees",
        )
    io.save_figure(fig, dream_figure)
    table = pd.DataFrame(rows)
    io.save_csv(scores, table)
    for kind, part in table.groupby("kind"):
        print(
            f"{kind}: visualisation beats the best natural test image on its objective in {part.beats.mean():.0%} "
            f"({part.beats.sum()}/{len(part)}), on the largest value in {part.beats_peak.mean():.0%}"
        )
    return table


def _start(kind: str, n: int, shape, low, high, seed: int, normalise, test, rows) -> torch.Tensor:
    if kind == "image":
        rows = np.asarray(rows)
        unique, inverse = np.unique(rows, return_inverse=True)
        return normalise(test.images[unique])[inverse]
    return noise_start(n, shape, low, high, seed)


@torch.no_grad()
def _channel_peak(model, x: torch.Tensor, layer_of_row, channel_of_row) -> np.ndarray:
    """Largest value over positions of each row's channel (the measure of ``top.npz``'s ``value``)."""
    names = list(dict.fromkeys(layer_of_row))
    out = np.zeros(len(layer_of_row), dtype=np.float64)
    with capture(model, names) as store:
        model(x)
        for name in names:  # the distinct layers; all rows of one layer at once
            r = np.flatnonzero(np.asarray(layer_of_row) == name)
            act = store[name][torch.as_tensor(r), torch.as_tensor(np.asarray(channel_of_row)[r])]
            out[r] = act.flatten(1).max(1).values.float().cpu().numpy()
    return out


@torch.no_grad()
def _test_logits(model, normalise, test, dev, batch_size: int = 512) -> torch.Tensor:
    return torch.cat(
        [model(normalise(test.images[s]).to(dev)).float().cpu() for s in batches(len(test.images), batch_size)]
    )


def _immunohistochemistry() -> np.ndarray:
    from skimage import data  # bundled with scikit-image: no download

    return data.immunohistochemistry()
