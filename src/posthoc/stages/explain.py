"""Stage: run one explanation method on one dataset, for every layer, in batches.

Two sets of test images are explained: one correctly classified example per class (target = its
class; falls back to a misclassified one when a class has no correct prediction) for the figures,
and a seeded evaluation set (target = predicted class) for the faithfulness metrics.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from .. import data, io, plots
from ..explain import explain
from ..models import load_checkpoint
from ..preprocess import to_display
from ..train import Normaliser, batches, select_device


def example_per_class(labels: np.ndarray, preds: np.ndarray, n_classes: int) -> np.ndarray:
    """Index of the first correctly classified test image of each class (else its first image)."""
    chosen = []
    for c in range(n_classes):
        correct = np.flatnonzero((labels == c) & (preds == c))
        anyof = np.flatnonzero(labels == c)
        if len(correct) or len(anyof):
            chosen.append(correct[0] if len(correct) else anyof[0])
    return np.asarray(chosen, dtype=np.int64)


def evaluation_indices(n_test: int, n_eval: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n_test, size=min(n_eval, n_test), replace=False)).astype(np.int64)


def layer_labels(layers: list[str]) -> list[str]:
    return ["input"] + (["map"] if layers == ["input"] else [f"layer {i + 1}\n{name}" for i, name in enumerate(layers)])


def run(data_dir: str, checkpoint: str, predictions: str, method: str, method_params: dict, n_eval: int,
        batch_size: int, seed: int, out_npz: str, out_figure: str, device: str = "auto") -> dict:
    model, info = load_checkpoint(checkpoint)
    dev = select_device(device)
    model.to(dev)
    names = info["class_names"]
    pred_file = np.load(predictions)
    labels, preds, probs = pred_file["label"], pred_file["pred"], pred_file["probs"]
    examples = example_per_class(labels, preds, len(names))
    evaluation = evaluation_indices(len(labels), n_eval, seed)
    index = np.concatenate([examples, evaluation])
    subset = np.array(["example"] * len(examples) + ["evaluation"] * len(evaluation))
    target = np.concatenate([labels[examples], preds[evaluation]])
    test = data.load_split(data_dir, "test")
    x = Normaliser(info["mean"], info["std"], info["pixel_scale"])(test.images[np.sort(index)])
    x = x[np.searchsorted(np.sort(index), index)]  # memory-mapped reads in order, then back to our order
    maps, raws, layers = [], [], info["layers"]
    for s in tqdm(list(batches(len(index), batch_size)), desc=f"{method} ({len(index)} images)", mininterval=5):
        att = explain(method, model, x[s].to(dev), torch.as_tensor(target[s]), info["layers"], **method_params)
        maps.append(att.maps.cpu())
        raws.append(att.raw.cpu() if att.raw is not None else None)
        layers = att.layers
    maps_t = torch.cat(maps)
    out = dict(x=x.numpy(), index=index, label=labels[index], pred=preds[index], target=target,
               prob=probs[index].astype(np.float32), maps=maps_t.numpy().astype(np.float32),
               layers=np.array(layers), subset=subset)
    if raws and raws[0] is not None:
        out["maps_raw"] = torch.cat(raws).numpy().astype(np.float32)
    if not np.isfinite(out["maps"]).all():
        raise FloatingPointError(f"{method} produced non-finite maps; refusing to write {out_npz}")
    io.save_npz(out_npz, **out)
    ex = slice(0, len(examples))
    rows = [f"{names[labels[i]]} (p={probs[i, labels[i]]:.2f})" for i in examples]
    fig = plots.layer_maps(to_display(x[ex], info["mean"], info["std"]), out["maps"][ex], rows, layer_labels(layers),
                           title=f"{info['dataset']}: {method}, one test example per class (target = true class)")
    io.save_figure(fig, out_figure)
    print(f"{method}: maps {out['maps'].shape}, layers {layers}")
    return {"n": len(index), "layers": layers}
