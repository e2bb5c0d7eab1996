"""Stage: the occlusion-sensitivity study of one dataset (seed 000 §4.2, Figs 14–23).

For every (window, stride) of the sweep:

* the five-panel figure rows for one correctly and one wrongly classified test image (seeded
  choice): the input with one window hidden (the centre window, or the most damaging one), the
  activation of the most responsive last-conv channel, its DeconvNet projection, the true-class
  probability and the predicted class at every window position;
* over a seeded evaluation set: how much hiding one window lowers the true-class probability and
  how often it changes the prediction (``sweep.csv``).

A multi-label dataset (:mod:`posthoc.tasks`): the "true class" is the top-scoring label the image carries (the
top-scoring one when it carries none), its probability the label's sigmoid, the prediction the top-scoring
label; an image is correctly classified when its top-scoring label is one it carries.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from .. import io, tasks
from ..plots.occlusion import occlusion_panels
from ..plots.panels import message_figure
from ..explain.occlusion import OcclusionScan, channel_projection, scan
from ..preprocess import to_display
from .explain import evaluation_indices, load_explained


def pick_examples(labels: np.ndarray, preds: np.ndarray, seed: int) -> dict[str, int | None]:
    """A seeded choice of one correctly and one wrongly classified test image (None if there is none)."""
    rng = np.random.default_rng(seed)
    out = {}
    for outcome, sel in (("correct", labels == preds), ("wrong", labels != preds)):
        idx = np.flatnonzero(sel)
        out[outcome] = int(rng.choice(idx)) if len(idx) else None
    return out


def chosen_position(res: OcclusionScan, position: str) -> tuple[int, ...]:
    """Grid index of the window to show: the one nearest the centre, or the one lowering p the most."""
    if position == "max_drop":
        return tuple(int(i) for i in np.unravel_index(int(res.prob[0].argmin()), res.grid))
    return tuple(int(np.argmin(np.abs(c - (len(m[0]) - 1) / 2))) for c, m in zip(centres(res), res.masks))


def centres(res: OcclusionScan) -> list[np.ndarray]:
    """Per spatial dimension, the centre of every (possibly cut-off) window."""
    out = []
    for m in res.masks:
        m = m.cpu().numpy()
        out.append(np.array([np.flatnonzero(row).mean() for row in m]))
    return out


def sweep_summary(res: OcclusionScan) -> dict:
    drop = (res.prob0.view(-1, 1) - res.prob.flatten(1)).cpu().numpy()
    flipped = (res.pred.flatten(1) != res.pred0.view(-1, 1)).cpu().numpy()
    return {
        "window_px": "x".join(map(str, res.window)),
        "stride_px": "x".join(map(str, res.stride)),
        "positions": int(np.prod(res.grid)),
        "n_images": len(drop),
        "mean_drop": float(drop.mean()),
        "mean_max_drop": float(drop.max(1).mean()),
        "flip_rate": float(flipped.mean()),
        "images_flipped": float(flipped.any(1).mean()),
    }


def figure_row(
    model,
    x1,
    label: int,
    pred: int,
    res: OcclusionScan,
    position: str,
    layer: str,
    info: dict,
    fill: float,
    setting: dict,
) -> dict:
    names, mean, std = info["class_names"], info["mean"], info["std"]
    pos = chosen_position(res, position)
    hide = res.window_mask(pos)
    occluded = torch.where(hide, torch.as_tensor(fill, dtype=x1.dtype, device=x1.device), x1)
    spans = [(int(np.flatnonzero(m[i].cpu().numpy())[0]), int(m[i].sum())) for m, i in zip(res.masks, pos)]
    box = spans[0] if len(spans) == 1 else (spans[0][0], spans[1][0], spans[0][1], spans[1][1])
    proj = channel_projection(model, x1, layer, res.channel)[0].cpu()
    proj = proj[0].numpy() if x1.ndim == 3 else proj.permute(1, 2, 0).squeeze(2).numpy()
    scale = float(np.quantile(np.abs(proj), 0.995)) or 1.0  # a few extreme pixels would flatten the rest
    proj = np.clip(proj / scale, -1, 1)  # signals: in [-1, 1]
    if x1.ndim == 4:  # images: mid-grey = 0, as Zeiler & Fergus show it
        proj = proj * 0.5 + 0.5
    p_hidden = float(res.prob[0][pos])
    return {
        "image": to_display(x1.cpu(), mean, std)[0],
        "occluded": to_display(occluded.cpu(), mean, std)[0],
        "window_box": box,
        "centres": centres(res),
        "activation": res.activation[0].cpu().numpy(),
        "probability": res.prob[0].cpu().numpy(),
        "predicted": res.pred[0].cpu().numpy(),
        "projection": proj,
        "channel": int(res.channel[0]),
        "label": (
            f"window {setting['window']}, stride {setting['stride']} ({'x'.join(map(str, res.window))} "
            f"{'px' if x1.ndim == 4 else 'positions'})\n"
            f"true {names[label]}, predicted {names[pred]}\n"
            f"p(true) {float(res.prob0[0]):.2f} → {p_hidden:.2f} hidden; channel {int(res.channel[0])}"
        ),
    }


def run(
    *,
    dataset: str,
    meta: str,
    checkpoint: str,
    predictions: str,
    correct: str,
    wrong: str,
    sweep: str,
    settings: list[dict],
    fill: float,
    batch_size: int,
    n_eval: int,
    position: str,
    seed: int,
    device: str,
) -> pd.DataFrame:
    """Five-panel figures of a correctly and a wrongly classified test image and the window/stride ``sweep`` table
    for every (window, stride) of ``settings`` (in the input's units); ``fill``, ``batch_size`` as in method occlusion."""
    out_correct, out_wrong, out_csv = correct, wrong, sweep
    model, info, dev, normalise, test, (labels, _, probs) = load_explained(meta, checkpoint, predictions, device)
    layer, names, task = info["layers"][-1], info["class_names"], info.get("task")
    labels, preds = tasks.get(task).explained(labels, probs)  # multi-label: see the module
    examples = pick_examples(labels, preds, seed)
    evaluation = evaluation_indices(len(labels), n_eval, seed)
    x_eval = normalise(test.images[evaluation]).to(dev)
    rows, figures = [], {"correct": [], "wrong": []}
    for setting in tqdm(settings, desc=f"occlusion sweep ({len(evaluation)} images)", mininterval=5):
        w, s = int(setting["window"]), int(setting["stride"])
        res = scan(model, x_eval, torch.as_tensor(labels[evaluation]), w, s, fill, batch_size, task=task)
        rows.append({"window": w, "stride": s, **sweep_summary(res)})
        for outcome, idx in examples.items():
            if idx is not None:
                x1 = normalise(test.images[[idx]]).to(dev)
                one = scan(model, x1, torch.tensor([labels[idx]]), w, s, fill, batch_size, layer, task=task)
                figures[outcome].append(
                    figure_row(model, x1, int(labels[idx]), int(preds[idx]), one, position, layer, info, fill, setting)
                )
    for outcome, out in (("correct", out_correct), ("wrong", out_wrong)):
        idx = examples[outcome]
        if idx is None:
            fig = message_figure(f"No {outcome}ly classified test image.", f"{info['dataset']}: occlusion")
        else:
            fig = occlusion_panels(
                figures[outcome],
                names,
                (
                    f"{info['dataset']}: occlusion sensitivity, {outcome}ly classified test image #{idx} "
                    f"(fill {fill:g} = {'dataset mean' if fill == 0 else 'normalised value'}; layer {layer})"
                ),
            )
        io.save_figure(fig, out)
    table = pd.DataFrame(rows)
    io.save_csv(out_csv, table)
    print(table.to_string(index=False))
    return table
