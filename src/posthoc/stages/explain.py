"""Stage: run one explanation method on one dataset, for every layer, in batches.

Each row of the output is one (test image, target class) pair; ``subset`` says why it is there:

* ``example``: one correctly classified test image per class (falls back to a misclassified one
  when a class has none), target = its class — the per-method figure and the comparison figure;
* ``evaluation``: a seeded sample of ``n_eval`` test images, target = the explained model's
  predicted class (or the true class with ``target: true``) — the faithfulness metrics;
* ``per_class``: one image explained for every class in turn (seed 002: explain a class that is
  not the top one) — the least confident of the correct examples;
* ``confusion``: for each of the ``n_confusions`` most frequent confusions (true t → predicted p,
  seed 004 Fig 19), one such test image explained for t and for p.

A multi-label dataset (:mod:`posthoc.tasks`) has the same subsets, chosen per label: ``example`` rows are
the first test image carrying each label (one the model also says carries it, when there is one), explained
for every label the image carries; ``evaluation`` rows are explained for their top-scoring label
(``target: true``: the top-scoring label the image carries, the top-scoring one when it carries none);
``per_class`` rows are that first image of each label, explained for that label; ``confusion`` rows are, for
each of the ``n_confusions`` labels with the most errors at threshold 0.5 (false positives + false
negatives), the first true positive, false negative and false positive of that label (those the test split
has), each explained for the label. ``prob`` is then each label's sigmoid probability and ``pred`` the
top-scoring label.

Images are chosen from the dataset model's predictions (``predictions``), so every method —
CAM too, which explains the global-average-pooling variant — explains the same images. ``pred``
and ``prob`` are those of the explained model. All rows go through ``explain`` in batches: the
classes of the per-class image are rows of a batch, not a loop.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from tqdm import tqdm

from .. import data, io, tasks
from ..explain import METHODS, explain
from ..plots.maps import layer_maps
from ..plots.reconstructions import reconstructions
from ..models import load_checkpoint
from ..preprocess import to_display
from ..train import Normaliser, autocast, batches, select_device


def example_per_class(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Index of the first correctly classified test image of each class (else its first image)."""
    chosen = []
    for c in range(n_classes):
        correct = np.flatnonzero((labels == c) & (preds == c))
        anyof = np.flatnonzero(labels == c)
        if len(correct) or len(anyof):
            chosen.append(correct[0] if len(correct) else anyof[0])
    return np.asarray(chosen, dtype=np.int64)


def first_per_label(labels: np.ndarray, preds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Multi-label 0/1 ``(N, L)`` labels and predictions → (test index, label) of the first image carrying each
    label (the first the model also says carries it, when there is one), for the labels the split has."""
    carries, said = labels.astype(bool), preds.astype(bool)
    first = np.where((carries & said).any(0), (carries & said).argmax(0), carries.argmax(0))
    present = np.flatnonzero(carries.any(0))
    return first[present].astype(np.int64), present.astype(np.int64)


def one_per_class(labels: np.ndarray, preds: np.ndarray, n_classes: int, task) -> tuple[np.ndarray, np.ndarray]:
    """(test index, class) of one example per class (:func:`example_per_class`), or per label for a multi-label
    ``task`` (:func:`first_per_label`): the images that the per-class figures of every stage show."""
    if task.multi_label:
        return first_per_label(labels, preds)
    labels = np.asarray(labels).reshape(len(labels), -1)[:, 0]
    examples = example_per_class(labels, preds, n_classes)
    return examples, labels[examples].astype(np.int64)


def evaluation_indices(n_test: int, n_eval: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_test, size=min(n_eval, n_test), replace=False)).astype(np.int64)


def top_confusions(labels: np.ndarray, preds: np.ndarray, n: int) -> list[tuple[int, int, int, int]]:
    """The ``n`` most frequent (true, predicted) confusions → (true, pred, count, first test index)."""
    wrong = labels != preds
    pairs, counts = np.unique(np.stack([labels[wrong], preds[wrong]], 1), axis=0, return_counts=True)
    order = sorted(range(len(pairs)), key=lambda i: (-counts[i], *pairs[i]))[:n]
    return [
        (
            int(pairs[i][0]),
            int(pairs[i][1]),
            int(counts[i]),
            int(np.flatnonzero((labels == pairs[i][0]) & (preds == pairs[i][1]))[0]),
        )
        for i in order
    ]


def per_class_image(examples: np.ndarray, labels: np.ndarray, preds: np.ndarray, probs: np.ndarray) -> int:
    """The correctly classified example the model is least sure of (other classes matter most there)."""
    correct = [i for i in examples if labels[i] == preds[i]] or list(examples)
    return int(min(correct, key=lambda i: probs[i, labels[i]]))


def plan_rows(
    labels: np.ndarray, preds: np.ndarray, probs: np.ndarray, n_eval: int, seed: int, n_confusions: int
) -> dict[str, np.ndarray]:
    """Rows to explain: ``index``, ``subset`` and ``target`` (-1 = the explained model's prediction)."""
    n_classes = probs.shape[1]
    examples = example_per_class(labels, preds, n_classes)
    evaluation = evaluation_indices(len(labels), n_eval, seed)
    chosen = per_class_image(examples, labels, preds, probs) if len(examples) else 0
    confusions = top_confusions(labels, preds, n_confusions)
    index = [examples, evaluation, np.full(n_classes, chosen), [i for *_, i in confusions for _ in (0, 1)]]
    target = [
        labels[examples],
        np.full(len(evaluation), -1),
        np.arange(n_classes),
        [c for t, p, _, _ in confusions for c in (t, p)],
    ]
    subset = (
        ["example"] * len(examples)
        + ["evaluation"] * len(evaluation)
        + ["per_class"] * n_classes
        + ["confusion"] * 2 * len(confusions)
    )
    return {
        "index": np.concatenate(index).astype(np.int64),
        "subset": np.array(subset),
        "target": np.concatenate(target).astype(np.int64),
    }


def label_errors(labels: np.ndarray, preds: np.ndarray, n: int) -> list[tuple[int, int, dict[str, int]]]:
    """The ``n`` labels the model gets wrong most often at the threshold (false positives + false negatives;
    ties: lower label first; labels never wrong are left out) → (label, errors, {outcome: first test index})
    with outcomes ``tp``, ``fn``, ``fp`` in that order, each present only when the test split has one."""
    carries, said = labels.astype(bool), preds.astype(bool)
    errors = (carries != said).sum(0)
    order = [int(c) for c in np.argsort(-errors, kind="stable")[:n] if errors[c] > 0]
    cases = {"tp": carries & said, "fn": carries & ~said, "fp": ~carries & said}
    return [
        (c, int(errors[c]), {k: int(np.flatnonzero(m[:, c])[0]) for k, m in cases.items() if m[:, c].any()})
        for c in order
    ]


def plan_rows_multi_label(
    labels: np.ndarray, preds: np.ndarray, n_eval: int, seed: int, n_confusions: int = 0
) -> dict[str, np.ndarray]:
    """Rows of a multi-label dataset (0/1 ``(N, L)`` labels and predictions; see the module)."""
    first, present = first_per_label(labels, preds)
    images = np.unique(first)
    pairs = np.argwhere(labels[images].astype(bool))  # (image position, label), in image then label order
    evaluation = evaluation_indices(len(labels), n_eval, seed)
    errors = [(c, i) for c, _, cases in label_errors(labels, preds, n_confusions) for i in cases.values()]
    error_index, error_label = np.array(errors, dtype=np.int64).reshape(-1, 2).T[::-1]
    subsets = {
        "example": (images[pairs[:, 0]], pairs[:, 1]),
        "evaluation": (evaluation, np.full(len(evaluation), -1)),
        "per_class": (first, present),
        "confusion": (error_index, error_label),
    }
    return {
        "index": np.concatenate([i for i, _ in subsets.values()]).astype(np.int64),
        "subset": np.array([name for name, (i, _) in subsets.items() for _ in range(len(i))]),
        "target": np.concatenate([t for _, t in subsets.values()]).astype(np.int64),
    }


def layer_labels(layers: list[str]) -> list[str]:
    return ["input"] + (["map"] if layers == ["input"] else [f"layer {i + 1}\n{name}" for i, name in enumerate(layers)])


class ExplainedTestSet(NamedTuple):
    """What every explanation stage starts from: the trained model on its device and the test split."""

    model: torch.nn.Module
    info: dict  # the checkpoint's info (class names, layers, mean/std, ...)
    device: torch.device
    normalise: Normaliser
    test: data.Split  # memory-mapped test images and labels
    predictions: tuple  # (label, pred, probs) of the evaluate rule, per test image


def load_explained(meta: str, checkpoint: str, predictions: str, device: str) -> ExplainedTestSet:
    """The model of ``checkpoint`` on ``device`` and the test split of the dataset whose meta.json is ``meta``."""
    data_dir = str(Path(meta).parent)
    model, info = load_checkpoint(checkpoint)
    dev = select_device(device)
    pred_file = np.load(predictions)
    return ExplainedTestSet(
        model.to(dev),
        info,
        dev,
        Normaliser(info["mean"], info["std"], info["pixel_scale"]),
        data.load_split(data_dir, "test"),
        (pred_file["label"], pred_file["pred"], pred_file["probs"]),
    )


@torch.no_grad()
def _probabilities(model, x: torch.Tensor, batch_size: int, dev, task) -> torch.Tensor:
    return torch.cat([task.probabilities(model(x[s].to(dev)).float()).cpu() for s in batches(len(x), batch_size)])


def run(
    *,
    dataset: str,
    method: str,
    meta: str,
    checkpoint: str,
    predictions: str,
    maps: str,
    figure: str,
    method_params: dict,
    n_eval: int,
    n_confusions: int,
    batch_size: int,
    seed: int,
    device: str,
) -> dict:
    """Explain the planned rows (see the module) with ``method`` → ``maps`` (npz) and the per-method ``figure``."""
    out_npz, out_figure = maps, figure
    traits = METHODS[method]
    model, info, dev, normalise, test, (labels, preds, all_probs) = load_explained(
        meta, checkpoint, predictions, device
    )
    params = dict(method_params)
    target_rule = params.pop("target", "predicted")
    amp = params.pop("amp", "off")  # forward passes under autocast (GPU); maps are stored as float32
    autocast(dev, amp, f"methods.{method}.amp")  # a wrong value fails before any work
    n_eval = min(n_eval, params.pop("n_eval", None) or n_eval)  # costly methods may cap the evaluation set
    if params.get("baseline") == "black":  # the model-space value of a zero pixel, per channel
        params.setdefault("black_level", [-m / s for m, s in zip(info["mean"], info["std"])])
    names, task = info["class_names"], tasks.get(info.get("task"))
    if task.multi_label:
        rows = plan_rows_multi_label(labels, preds, n_eval, seed, n_confusions)
    else:
        rows = plan_rows(labels, preds, all_probs, n_eval, seed, n_confusions)
    index, subset = rows["index"], rows["subset"]
    unique = np.unique(index)  # memory-mapped reads in order, then back to the rows' order
    x = normalise(test.images[unique])[np.searchsorted(unique, index)]
    probs = _probabilities(model, x, batch_size, dev, task).numpy()
    true_target, own_pred = task.explained(labels[index], probs)  # multi-label: see the module
    target = np.where(rows["target"] >= 0, rows["target"], true_target if target_rule == "true" else own_pred)
    maps, raws, extras, recon, layers = [], [], {}, [], info["layers"]
    is_example = subset == "example"
    for s in tqdm(list(batches(len(index), batch_size)), desc=f"{method} ({len(index)} rows)", mininterval=5):
        with autocast(dev, amp, f"methods.{method}.amp"):
            att = explain(
                method, model, x[s].to(dev), torch.as_tensor(target[s]), info["layers"], task=task.name, **params
            )
        maps.append(att.maps.float().cpu())
        raws.append(att.raw.float().cpu() if att.raw is not None else None)
        for key, value in att.extras.items():
            extras.setdefault(key, []).append(value.detach().float().cpu())
        if traits.figure == "reconstructions":
            recon.append(att.channels.float().cpu()[torch.from_numpy(is_example[s])])
        layers = att.layers
    out = dict(
        x=x.numpy(),
        index=index,
        label=labels[index],
        pred=own_pred,
        target=target,
        prob=probs.astype(np.float32),
        maps=torch.cat(maps).numpy().astype(np.float32),
        layers=np.array(layers),
        subset=subset,
        explain_layers=np.array(info.get("explain_layers", "conv")),
    )
    if raws and raws[0] is not None:
        out["maps_raw"] = torch.cat(raws).numpy().astype(np.float32)
    out.update({key: torch.cat(v).numpy().astype(np.float32) for key, v in extras.items()})
    for key in ("maps", "maps_raw", *extras):
        if key in out and not np.isfinite(out[key]).all():
            raise FloatingPointError(f"{method} produced non-finite {key}; refusing to write {out_npz}")
    io.save_npz(out_npz, **out)
    ex = np.flatnonzero(is_example)
    rows_text = [f"{names[target[r]]} (p={probs[r, target[r]]:.2f})" for r in ex]  # examples: target = true class
    model_note = (
        " — GAP head on frozen features"
        if info.get("gap_layer")
        else " — GAP model"
        if info.get("arch_kwargs", {}).get("gap")
        else f" — {info.get('explain_layers', 'conv')} layers"
        if layers != ["input"]
        else ""
    )
    title = (
        f"{info['dataset']}: {method}{model_note},\neach label of one test image per label"
        if task.multi_label
        else f"{info['dataset']}: {method}{model_note}, one test example per class (target = true class)"
    )
    if traits.figure == "reconstructions":
        channels = torch.cat(recon) * torch.as_tensor(info["std"]).view(1, 1, -1, *([1] * (x.ndim - 2)))
        fig = reconstructions(
            to_display(x[ex], info["mean"], info["std"]), channels.numpy(), rows_text, layer_labels(layers), title=title
        )
    else:
        fig = layer_maps(
            to_display(x[ex], info["mean"], info["std"]),
            out["maps"][ex],
            rows_text,
            layer_labels(layers),
            title=title,
            signed=traits.signed,
        )
    io.save_figure(fig, out_figure)
    print(
        f"{method}: maps {out['maps'].shape}, layers {layers}, rows per subset "
        f"{dict(zip(*np.unique(subset, return_counts=True)))}"
    )
    for key, value in extras.items():
        v = out[key][subset == "evaluation"]
        print(
            f"{key} on the evaluation set: median {np.median(v):.4f}, 90th percentile {np.quantile(v, 0.9):.4f}, "
            f"max {v.max():.4f}, share below 0.05 {np.mean(v < 0.05):.3f}"
        )
    return {"n": len(index), "layers": layers}
