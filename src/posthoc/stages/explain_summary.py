"""Stage: figures across the explanation methods of one dataset, and integrated gradients' completeness.

Reads every method's ``explanations/{method}.npz`` (the same rows for every method, see
``stages.explain``) and draws, for the dataset:

* ``comparison.png`` — the last conv layer (or the one map of layer-less methods) of every
  method for the same one-example-per-class rows (seed 000 Fig 28);
* ``per_class.png`` — one test image explained for every class in turn, one row per method
  (seed 002; DeconvNet is left out: its projection does not depend on the class);
* ``confusions.png`` — correct vs misclassified for the most frequent confusions, maps for the
  true and the predicted class, with confidences (seed 004 Fig 19).

A multi-label dataset (:mod:`posthoc.tasks`) has no class per image and no confusion between labels, so two
figures ask the same questions per label: ``per_class.png`` shows one test image per label (the first that
carries it), explained for that label, one row per label and one column per method; ``confusions.png`` shows,
for the labels the model decides wrongly most often at threshold 0.5 (false positives + false negatives), a
true positive, a false negative and a false positive test image of the label, each explained for the label,
with its probability — where does the evidence for the label differ when the model is wrong?

Confidences are the dataset model's (``predictions``), also in CAM's column, which explains the
dataset's GAP variant.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import io, tasks
from ..explain.registry import declared
from ..plots.confusions import OUTCOMES, confusion_maps, label_error_maps
from ..plots.maps import map_grid
from ..preprocess import to_display

TRAITS = declared()  # read statically: this stage draws and needs no torch


def _label(method: str, layer: str) -> str:
    return f"{method}{' (GAP model)' if TRAITS[method].explains == 'model_gap' else ''}\n{layer}"


def _rows(f, subset: str) -> np.ndarray:
    return np.flatnonzero(f["subset"] == subset)


def figures(
    explanations: dict[str, str],
    predictions: str,
    meta_json: str,
    stats_json: str,
    out_comparison: str,
    out_per_class: str,
    out_confusions: str,
) -> None:
    meta, stats = io.load_json(meta_json), io.load_json(stats_json)
    names, dataset = meta["class_names"], meta.get("name", "")
    test = np.load(predictions)
    probs, test_labels, test_preds = test["probs"], test["label"], test["pred"]
    files = {m: np.load(p) for m, p in explanations.items()}
    base_method = next(iter(files))
    base = files[base_method]
    shown_subsets = ("example", "per_class", "confusion")  # evaluation sets may differ (methods can cap n_eval)
    for m, f in files.items():  # every method explains the same images in these; check rather than assume
        for subset in shown_subsets:
            if not np.array_equal(f["index"][_rows(f, subset)], base["index"][_rows(base, subset)]):
                raise ValueError(f"{explanations[m]} explains other {subset} images than {explanations[base_method]}")

    def display(rows):
        return to_display(base["x"][rows], stats["mean"], stats["std"])

    def last(m, subset, k=None):
        """Method m's last-layer maps of a subset's rows (or of its k-th row)."""
        rows = _rows(files[m], subset)
        return files[m]["maps"][rows if k is None else rows[k], -1]

    labels = {m: _label(m, str(f["layers"][-1])) for m, f in files.items()}
    methods = list(files)

    multi_label = tasks.get(meta.get("task")).multi_label
    ex = _rows(base, "example")  # target = the true class (multi-label: a label the image carries)
    ex_text = [f"{names[base['target'][r]]} (p={probs[base['index'][r], base['target'][r]]:.2f})" for r in ex]
    signed = {m: TRAITS[m].signed for m in files}
    fig = map_grid(
        display(ex),
        np.stack([last(m, "example") for m in methods], 1),
        ex_text,
        ["input"] + [labels[m] for m in methods],
        title=f"{dataset}: every method at its last layer, "
        + ("each label of one test image per label" if multi_label else "one test example per class")
        + " (target = true class)",
        signed=[[signed[m] for m in methods]],
        scale="column",
    )
    io.save_figure(fig, out_comparison)
    if multi_label:
        per_label_figures(base, files, labels, display, test, names, dataset, out_per_class, out_confusions)
        return

    pc = _rows(base, "per_class")
    image, true = int(base["index"][pc[0]]), int(base["label"][pc[0]])
    pred = int(probs[image].argmax())
    pc_methods = [m for m in methods if not TRAITS[m].class_independent]
    cols = ["input"] + [
        f"{n}{' (true)' * (c == true)}{' (pred.)' * (c == pred)}\np={probs[image, c]:.2f}" for c, n in enumerate(names)
    ]
    fig = map_grid(
        np.repeat(display(pc[:1]), len(pc_methods), axis=0),
        np.stack([last(m, "per_class") for m in pc_methods]),
        [labels[m] for m in pc_methods],
        cols,
        title=f"{dataset}: test image {image} (true class {names[true]}) explained for every class",
        signed=[[signed[m]] for m in pc_methods],
        scale="row",
    )
    io.save_figure(fig, out_per_class)

    cf = _rows(base, "confusion")  # pairs of rows: target = true class, then predicted class
    correct_inputs, wrong_inputs, confusions, maps = [], [], [], []
    for b, r in enumerate(cf[::2]):
        t, p, i = int(base["target"][r]), int(base["target"][r + 1]), int(base["index"][r])
        good = [k for k, e in enumerate(ex) if base["label"][e] == t and test_preds[base["index"][e]] == t][:1]
        correct_inputs.append(display(ex[good])[0] if good else None)
        wrong_inputs.append(display([r])[0])
        confusions.append(
            {
                "true": t,
                "pred": p,
                "count": int(((test_labels == t) & (test_preds == p)).sum()),
                "probs": probs[i],
                "p_correct": probs[base["index"][ex[good[0]]], t] if good else np.nan,
            }
        )
        maps.append(
            [
                np.stack(
                    [
                        last(m, "example", good[0]) if good else np.zeros_like(last(m, "confusion", 2 * b)),
                        last(m, "confusion", 2 * b),
                        last(m, "confusion", 2 * b + 1),
                    ]
                )
                for m in methods
            ]
        )
    maps = np.asarray(maps).swapaxes(0, 1) if maps else np.zeros((len(methods), 0, 3, *base["maps"].shape[2:]))
    fig = confusion_maps(
        correct_inputs,
        wrong_inputs,
        maps,
        [labels[m] for m in methods],
        confusions,
        names,
        title=f"{dataset}: correct vs misclassified, most frequent confusions",
        signed=[signed[m] for m in methods],
    )
    io.save_figure(fig, out_confusions)


def per_label_figures(
    base, files: dict, labels: dict, display, test: dict, names, dataset: str, out_per_class: str, out_confusions: str
) -> None:
    """The multi-label ``per_class.png`` and ``confusions.png`` (see the module). ``base``: one method's npz
    (every method explains the same rows); ``labels``: each method's column label; ``display``: rows → display
    arrays; ``test``: the dataset model's test ``probs``, ``label`` and ``pred``."""
    methods = list(files)
    signed = {m: TRAITS[m].signed for m in methods}
    pc_methods = [m for m in methods if not TRAITS[m].class_independent]
    probs = test["probs"]

    def last(m, subset):
        return files[m]["maps"][_rows(files[m], subset), -1]

    pc = _rows(base, "per_class")
    image, target = base["index"][pc], base["target"][pc]
    fig = map_grid(
        display(pc),
        np.stack([last(m, "per_class") for m in pc_methods], 1),
        [f"{names[c]}: test image {i}\n(p={probs[i, c]:.2f})" for i, c in zip(image, target)],
        ["input"] + [labels[m] for m in pc_methods],
        title=f"{dataset}: each label explained on the first test image carrying it",
        signed=[[signed[m] for m in pc_methods]],
        scale="column",
    )
    io.save_figure(fig, out_per_class)

    cf = _rows(base, "confusion")  # per label: its true positive, false negative, false positive (those there are)
    image, target = base["index"][cf], base["target"][cf]
    carries, said = base["label"][cf, target].astype(bool), test["pred"][image, target].astype(bool)
    column = np.where(carries, np.where(said, 0, 1), 2)  # position in OUTCOMES: tp, fn, fp
    order = list(dict.fromkeys(target.tolist()))  # labels, most often wrong first
    block = np.array([order.index(t) for t in target], dtype=np.int64)
    wrong = (test["label"] != test["pred"]).sum(0)
    inputs = [[None] * len(OUTCOMES) for _ in order]
    errors = [{"label": c, "count": int(wrong[c]), "index": [None] * 3, "p": [np.nan] * 3} for c in order]
    shown = display(cf)
    for k, (b, o, i, c) in enumerate(zip(block, column, image, target)):  # at most three rows per label
        inputs[b][o], errors[b]["index"][o], errors[b]["p"][o] = shown[k], int(i), float(probs[i, c])
    maps = np.zeros((len(methods), len(order), len(OUTCOMES), *base["maps"].shape[2:]), dtype=np.float32)
    maps[:, block, column] = np.stack([last(m, "confusion") for m in methods])
    fig = label_error_maps(
        inputs,
        maps,
        [labels[m] for m in methods],
        errors,
        names,
        title=f"{dataset}: labels decided wrongly most often — a true positive, false negative and false "
        f"positive of each, explained for the label",
        signed=[signed[m] for m in methods],
    )
    io.save_figure(fig, out_confusions)


def completeness_table(explanations: str, params: dict, out_csv: str) -> pd.DataFrame:
    """Integrated gradients' completeness gap per subset (per image in the npz, key ``completeness_gap``)."""
    f = np.load(explanations)
    rows = []
    for subset in dict.fromkeys(f["subset"]):
        gap = f["completeness_gap"][f["subset"] == subset]
        rows.append(
            {
                "subset": subset,
                "n": len(gap),
                "median": np.median(gap),
                "p90": np.quantile(gap, 0.9),
                "max": gap.max(),
                "share_below_5pct": np.mean(gap < 0.05),
                "steps": params.get("steps"),
                "step_rule": params.get("step_rule"),
                "baseline": params.get("baseline"),
            }
        )
    table = pd.DataFrame(rows)
    io.save_csv(out_csv, table)
    print(table.to_string(index=False))
    return table


def run(
    *,
    dataset: str,
    maps: list[str],
    predictions: str,
    meta: str,
    stats: str,
    comparison: str,
    per_class: str,
    confusions: str,
    methods: list[str],
    completeness_params: dict,
    completeness: str | None = None,
) -> None:
    """Figures across ``methods`` (``maps``: their npz files, same order) and, when the rule declares the output
    ``completeness`` (a method with that extra output is in the study), that method's completeness table;
    ``completeness_params``: the method's config."""
    if len(maps) != len(methods):
        raise ValueError(f"{len(maps)} explanation files for {len(methods)} methods {methods}")
    explanations = dict(zip(methods, maps))
    figures(explanations, predictions, meta, stats, comparison, per_class, confusions)
    if completeness:
        owner = [m for m in methods if "completeness" in TRAITS[m].extra_outputs]
        if len(owner) != 1:
            raise ValueError(f"output completeness needs exactly one method with that extra output, got {owner}")
        completeness_table(explanations[owner[0]], completeness_params, completeness)
