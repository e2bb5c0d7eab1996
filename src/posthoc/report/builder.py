"""Build the final self-contained HTML report from a results folder.

The builder is generic: it does not know which files a stage writes. For every dataset in the
config it walks ``results/<dataset>/<stage>/`` (canonical stages first, then any other stage
folder in sorted order) and renders

* every ``*.png`` as an embedded figure (base64 data URI) with a caption,
* every ``*.csv`` (and ``*.tsv``) as an HTML table (floats to 4 significant digits, long tables
  truncated with a note),
* every ``*.json`` as a table when it is a flat or two-level dict (otherwise as pretty JSON).

So a new stage (e.g. ``robustness/``) or a new figure appears in the report without editing this
module; giving it a nicer caption is one line in :data:`CAPTIONS`.

The HTML is streamed into a temporary file and renamed only when complete
(:func:`posthoc.io.atomic_path`), so a failed build never leaves a half-written report.
"""
from __future__ import annotations

import base64
import datetime as _dt
import fnmatch
import json
import math
import numbers
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import pandas as pd
import yaml
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from posthoc.io import atomic_path, load_json

TEMPLATE_DIR = Path(__file__).resolve().parent
TEMPLATE_NAME = "template.html.j2"

#: Stage folders in report order; any other folder under ``results/<dataset>/`` follows, sorted.
STAGE_ORDER = ("eda", "model", "model_gap", "evaluation", "explanations", "faithfulness")
#: Folders under ``results/<dataset>/`` that are not report stages (``data`` is summarised from
#: ``data/meta.json`` at the top of each dataset section instead; it holds the raw arrays).
NON_STAGE_DIRS = frozenset({"data", "logs", "benchmarks"})
STAGE_TITLES = {
    "eda": "Exploratory data analysis",
    "model": "Model training",
    "evaluation": "Classification performance (test split)",
    "explanations": "Explanations",
    "faithfulness": "Faithfulness",
    "model_gap": "Global-average-pooling model (for CAM)",
    "occlusion": "Occlusion sensitivity",
    "lime": "LIME (local surrogate models on superpixels)",
    "robustness": "Robustness to noise, brightness and contrast",
    "map_quality": 'Can the maps be trusted? Localisation, sanity checks, deletion/insertion and intervals',
}
MAX_TABLE_ROWS = 60
MAX_LIST_ITEMS = 20
MAX_JSON_CHARS = 6000

#: Caption sentences, matched in order (first hit wins) against ``"<stage>/<file stem>"`` with
#: :func:`fnmatch.fnmatch`. ``{stem}`` and ``{stage}`` are substituted. Unknown files get a caption
#: derived from their name (:func:`derived_caption`).
CAPTIONS: dict[str, str] = {
    # --- map quality (captions/map_quality.yaml holds the same text)
    'map_quality/trust*': (
        'Which method to trust: the last layer of every method on every metric, as mean [95 % bootstrap '
        'interval over images]. drop: lower is better; increase, insertion AUC, relevance mass, pointing '
        'game: higher is better; deletion AUC and distractor share: lower is better. A method whose maps '
        'survive full randomisation of the model fails the sanity check whatever its other scores. Read '
        'differences between methods from paired.csv.'
    ),
    'map_quality/paired*': (
        'Paired bootstrap of the per-image difference a − b between two methods on the same images (last '
        "layer); 'decided' is true only when the 95 % interval excludes 0 — only then can the report say one "
        'method is better.'
    ),
    'map_quality/localisation*': (
        'Localisation against the ground-truth mask of the object (the digit on blockdigits): pointing game '
        "(the map's maximum lies in the mask), relevance mass (share of positive attribution inside the "
        'mask), rank accuracy (share of the top-K positions inside the mask, K = mask size), IoU of the top-k'
        ' % positions with the mask and, on blockdigits, the share of attribution on the class-independent '
        'distractor square (a method that highlights it is wrong). Means over the evaluation set with 95 % '
        'bootstrap intervals; ties in a map are ranked by position. Empty when the dataset has no masks.'
    ),
    'map_quality/sanity_flags*': (
        'Methods whose maps survive full randomisation of the model (median Spearman ρ with the original maps'
        ' above the threshold after every layer is re-initialised): such maps do not depend on what the model'
        ' learned.'
    ),
    'map_quality/sanity_maps*': (
        "One evaluation image's maps (last layer) under cascading randomisation, from the output layer down "
        'to the first; each column names the deepest layer randomised so far. A trustworthy map changes as '
        'the model loses its trained weights.'
    ),
    'map_quality/sanity*': (
        'Sanity checks (Adebayo et al. 2018): median rank correlation (and SSIM for images) between the maps '
        'of the trained model and those of models with randomised layers — cascading from the output layer '
        "down (randomised = deepest layer randomised so far, 'all' = the fully random model) and one layer at"
        ' a time (independent), with 95 % bootstrap intervals over the sanity images.'
    ),
    'map_quality/deletion_curves*': (
        'Target-class probability as the most relevant positions are removed (deletion, MoRF: lower is '
        'better), the least relevant are removed (LeRF: higher is better) or the most relevant are inserted '
        'into an empty input (insertion: higher is better); removed positions get the configured fill value; '
        'bands are 95 % bootstrap intervals.'
    ),
    'map_quality/deletion*': (
        'Areas under the deletion (MoRF, lower is better), LeRF deletion (higher is better) and insertion '
        '(higher is better) curves, per method and layer, with 95 % bootstrap intervals. With one fill value '
        'LeRF deletion of k % is insertion of the other 100 − k %, so their areas are equal by construction.'
    ),
    'map_quality/drop_increase*': (
        'Drop rate (mean of max(0, p − p′)/p, lower is better) and increase rate (share of images with p′ > p'
        ' + tolerance, higher is better) when only the top-k % positions are kept, with intervals. The '
        'tolerance (map_quality.increase_tolerance) discards gains that are float32 rounding of a saturated '
        "softmax; increase_rate_no_tolerance is seed 004's count and 'saturated' the images with p ≥ 1 − "
        'tolerance. Ties among positions with equal map value (e.g. the zeros left by a ReLU) are ranked by '
        'the pre-ReLU map, then by position.'
    ),
    'map_quality/per_image_drop*': (
        'Drop % of every evaluation image, method and layer (p, p′ and their difference), from which every '
        'mean is computed.'
    ),
    'map_quality/best_worst*': (
        'For each method (last layer), the evaluation image with the lowest and the highest drop %: the '
        'input, its map and the input actually scored (top-k % positions kept, the rest set to the fill '
        'value) (seed 004 §IV-C).'
    ),
    'map_quality/seed004*': (
        'Seed 004 Table 2 reproduced: drop and increase rates of Grad-CAM (last layer) and integrated '
        "gradients on MNIST-1D next to seed 004's values (0.411/0.301 and 0.409/0.173, model accuracy 87.7 "
        '%), with our 95 % intervals and model accuracy; increase_rate counts every gain as seed 004 does, '
        'increase_rate_tolerance only gains above the tolerance. The seed-004 integrated-gradients variant '
        '(black baseline, right Riemann sum k/M, sum of |·| over channels — the reduction seed 004 §IV-B '
        'calls a mistake) shows what that choice changes.'
    ),
    # --- gradient family (issue 3); first so that they win over the generic patterns below
    "model_gap/*": (
        "Global-average-pooling variant of the model (conv features → GAP → linear, seeds 002/003), "
        "trained with the same data, settings and seed; used only by CAM"
    ),
    "faithfulness/cam*": (
        "CAM drop rate (lower is better) and increase rate (higher is better), measured on the "
        "global-average-pooling model that CAM explains (not on the dataset's model) (seed 004 §III-C)"
    ),
    "faithfulness/summary*": (
        "Drop rate (lower is better) and increase rate (higher is better) of every method and layer when "
        "only the top-k % most salient input positions are kept (seed 004 §III-C); CAM's bars are measured "
        "on the global-average-pooling model it explains"
    ),
    "explanations/saliency*": (
        "Vanilla saliency |∂y_c/∂x|, largest over channels (seed 003), one correctly classified test "
        "example per class; rows = classes, columns = input then the map"
    ),
    "explanations/guided_backprop*": (
        "Guided backpropagation (only positive gradients through every ReLU; seeds 001 §3.2, 002, 003), "
        "largest absolute value over channels; rows = classes, columns = input then the map"
    ),
    "explanations/guided_gradcam*": (
        "Guided Grad-CAM = guided backprop × upsampled Grad-CAM at every conv layer (seeds 001 §3.3, 003); "
        "rows = classes, columns = input then layers 1..L"
    ),
    "explanations/cam*": (
        "CAM Σ_k w_k^c A^k on the global-average-pooling model (seeds 002, 003), at its last conv features; "
        "rows = classes, columns = input then the map"
    ),
    "explanations/integrated_gradients_completeness*": (
        "Integrated gradients' completeness gap |Σ attributions − (f(x) − f(baseline))| / |f(x) − f(baseline)| "
        "per subset of explained rows (f = target logit): median, 90th percentile, maximum and the share "
        "below 5 % (seed 004 §II-B)"
    ),
    "explanations/integrated_gradients*": (
        "Integrated gradients, sum over channels then ReLU (seed 004 §II-B, §IV-B), one correctly "
        "classified test example per class; rows = classes, columns = input then the map"
    ),
    "explanations/comparison*": (
        "Every method at the last conv layer (or its single input-resolution map) for the same test "
        "examples, one per class, target = true class (seed 000 Fig 28); CAM explains the GAP model"
    ),
    "explanations/per_class*": (
        "One test image explained for every class in turn (seed 002: explaining a class that is not the "
        "top one); rows = methods at their last layer, columns = classes with the model's probability. "
        "DeconvNet is left out: its projection does not depend on the class"
    ),
    "explanations/confusions*": (
        "Correct vs misclassified for the most frequent confusions (seed 004 Fig 19): a correctly "
        "classified image of the true class, the misclassified image's maps for the true and for the "
        "predicted class, and its class probabilities; one row per method at its last layer"
    ),
    # ---
    "faithfulness/*": (
        "Drop rate (lower is better) and increase rate (higher is better) when only the top-k % most "
        "salient input positions are kept and the rest set to the fill value (seed 004 §III-C)"
    ),
    "*/sample_batch*": "A batch of training samples with their labels (seed 000 Fig. 1)",
    "*/class_distribution*": (
        "Number of samples per class in each split; imbalance here explains later per-class "
        "differences (seed 000 Figs. 2, 4, 6)"
    ),
    "*/one_per_class*": "One training sample per class (seed 000 Figs. 3, 5, 7)",
    "*/stats*": "Dataset statistics: per-channel mean and standard deviation (used for normalisation) and class counts",
    "*/training_curves*": (
        "Loss and accuracy per epoch on the training and validation splits (seed 000 Figs. 8–10)"
    ),
    "*/history*": "Per-epoch training log: loss and accuracy on the training and validation splits",
    "*/scores*": "Final loss and accuracy of the selected model on each split",
    "*/confusion*": (
        "Confusion matrix on the test split, rows normalised to the true class (the diagonal is the "
        "per-class recall) (seed 004 §IV-A)"
    ),
    "*/roc_auc*": "One-vs-rest area under the ROC curve per class on the test split (seed 004 §IV-A)",
    "*/roc*": "One-vs-rest ROC curves per class on the test split, AUC in the legend (seed 004 §IV-A)",
    "*/per_class*": "Per-class accuracy on the test split",
    "*/classification_report*": "Precision, recall, F1 and support per class on the test split",
    "explanations/gradcampp*": (
        "Grad-CAM++ at every conv layer, one correctly classified test example per class; rows = "
        "classes, columns = input then layers 1..L"
    ),
    "explanations/gradcam_pp*": (
        "Grad-CAM++ at every conv layer, one correctly classified test example per class; rows = "
        "classes, columns = input then layers 1..L"
    ),
    "explanations/gradcam*": (
        "Grad-CAM at every conv layer, one correctly classified test example per class; rows = "
        "classes, columns = input then layers 1..L (seed 000 Figs 24–26)"
    ),
    "explanations/deconvnet*": (
        "DeconvNet reconstructions from every conv layer, one correctly classified test example per "
        "class; rows = classes, columns = input then layers 1..L (seed 000 Figs 11–13)"
    ),
    "explanations/occlusion*": (
        "Occlusion sensitivity: drop of the target-class probability when a window (set to the dataset "
        "mean) hides a position, averaged over the windows covering it (seed 000 §4.2); one correctly "
        "classified test example per class; rows = classes, columns = input then the map"
    ),
    # --- perturbation family (issue 4)
    "explanations/lime*": (
        "LIME: each superpixel's weight in a weighted linear model of the target-class probability on "
        "masked inputs (seed 001 ch. 2), painted on its pixels; rows = classes, columns = input then the map"
    ),
    "occlusion/panels_correct*": (
        "Occlusion sensitivity of a correctly classified test image (seed 000 Figs 14–23), one row per "
        "window size and stride: the input with the chosen window hidden, the activation of the most "
        "responsive last-conv channel, its DeconvNet projection, the true-class probability and the "
        "predicted class at every window position"
    ),
    "occlusion/panels_wrong*": (
        "Occlusion sensitivity of a misclassified test image (seed 000 Figs 14–23), one row per window "
        "size and stride; panels as in the figure above"
    ),
    "occlusion/sweep*": (
        "Window/stride sweep over a seeded evaluation set, target = true class: the mean drop of its "
        "probability over windows and images, the mean of each image's largest drop, the share of "
        "(image, window) pairs whose prediction changes, and the share of images with any change"
    ),
    "lime/topk_correct*": (
        "LIME for the predicted class of correctly classified test images (seed 001 Figs 2.5–2.8): "
        "superpixels, their weights and the top 5/10/15 superpixels under two settings of the keep "
        "probability and the kernel width"
    ),
    "lime/topk_wrong*": (
        "LIME for the (wrong) predicted class of misclassified test images (seed 001 Figs 2.9–2.12); "
        "panels as in the figure above"
    ),
    "lime/examples*": (
        "Every LIME fit of the figures: image, classes, number of superpixels, setting, and the weighted "
        "R² of the linear model (its local fidelity)"
    ),
    "robustness/gradcam_noise": (
        "Gaussian noise of increasing standard deviation (seed 001 Fig 3.8): one test image with Grad-CAM "
        "(last conv layer) for the top and the original class, then accuracy, confidence and the Spearman "
        "correlation of the maps with the clean maps over the evaluation set"
    ),
    "robustness/gradcam_brightness": (
        "Brightness offsets (seed 001 Fig 3.9); panels as for noise"
    ),
    "robustness/gradcam_contrast": (
        "Contrast reduced towards the image mean (seed 001 Fig 3.10); panels as for noise"
    ),
    "robustness/stability": (
        "Per degradation and level, over a seeded evaluation set: accuracy, share of predictions that "
        "differ from the clean ones, mean confidence, mean probability of the original class, and the "
        "mean Spearman correlation of the (pre-ReLU) Grad-CAM maps with the clean image's maps"
    ),
}


# ------------------------------------------------------------------------------------ formatting
def format_value(value: Any) -> str:
    """One cell: floats to 4 significant digits (more only for the integer part), NaN as a dash."""
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        v = float(value)
        if math.isnan(v):
            return "–"
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if v.is_integer() and abs(v) < 1e15:
            return str(int(v))
        digits = int(math.floor(math.log10(abs(v)))) + 1 if v != 0 else 1
        return f"{v:.{max(4, digits)}g}"
    if isinstance(value, (list, tuple)):
        items = [format_value(v) for v in value[:MAX_LIST_ITEMS]]
        more = f", … ({len(value)} values)" if len(value) > MAX_LIST_ITEMS else ""
        return "[" + ", ".join(items) + more + "]"
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {format_value(v)}" for k, v in value.items())
    return str(value)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, numbers.Number, bool))


def _is_leafy(value: Any) -> bool:
    """A scalar or a short list of scalars: fits in one table cell."""
    return _is_scalar(value) or (isinstance(value, (list, tuple)) and all(_is_scalar(v) for v in value))


def _is_numeric(value: Any) -> bool:
    return isinstance(value, numbers.Number) and not isinstance(value, bool)


def derived_caption(stage: str, stem: str) -> str:
    words = re.sub(r"[_\-.]+", " ", stem).strip()
    return (words[:1].upper() + words[1:]) if words else stem


def caption_for(stage: str, stem: str) -> str:
    key = f"{stage}/{stem}"
    for pattern, caption in CAPTIONS.items():
        if fnmatch.fnmatch(key, pattern):
            return caption.format(stem=stem, stage=stage)
    return derived_caption(stage, stem)


def anchor(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_-]+", "-", str(p)).strip("-") or "x" for p in parts)


# ---------------------------------------------------------------------------------------- tables
def _table(header: list[str], rows: list[list[Any]], note: str | None = None) -> dict:
    numeric = [all(_is_numeric(r[j]) or r[j] is None for r in rows) and any(_is_numeric(r[j]) for r in rows)
               for j in range(len(header))]
    return {
        "header": [str(h) for h in header],
        "rows": [[format_value(c) for c in r] for r in rows],
        "numeric": numeric,
        "note": note,
    }


def frame_table(frame: pd.DataFrame, source: str = "") -> dict:
    total = len(frame)
    shown = frame.head(MAX_TABLE_ROWS)
    rows = [[None if (isinstance(v, float) and math.isnan(v)) else (v.item() if hasattr(v, "item") else v)
             for v in rec] for rec in shown.itertuples(index=False, name=None)]
    note = None
    if total > MAX_TABLE_ROWS:
        note = f"Showing the first {MAX_TABLE_ROWS} of {total} rows" + (f"; full table in {source}." if source else ".")
    return _table(list(frame.columns), rows, note)


def json_table(obj: Any) -> dict | None:
    """A table for a flat or two-level dict; ``None`` if ``obj`` does not fit that shape."""
    if not isinstance(obj, Mapping) or not obj:
        return None
    nested = {k: v for k, v in obj.items() if isinstance(v, Mapping)}
    if nested and all(_is_leafy(x) for v in nested.values() for x in v.values()) \
            and all(_is_leafy(v) for k, v in obj.items() if k not in nested) \
            and len(nested) >= len(obj) / 2:
        # two-level: rows = outer keys (e.g. splits), columns = union of inner keys
        columns: list[str] = list(dict.fromkeys(k for v in nested.values() for k in v))
        rows = []
        for key, value in obj.items():
            if key in nested:
                rows.append([key] + [value.get(c) for c in columns])
            else:  # a lone scalar among the sub-dicts (e.g. sklearn's "accuracy")
                rows.append([key, value] + [""] * (len(columns) - 1))
        return _table([""] + columns, rows)
    if all(_is_leafy(v) or isinstance(v, Mapping) for v in obj.values()):
        # key/value table; nested values rendered compactly in one cell
        rows = []
        for key, value in obj.items():
            if isinstance(value, Mapping) and not all(_is_leafy(x) for x in value.values()):
                text = json.dumps(value, default=str)
                value = text if len(text) <= 300 else text[:300] + " …"
            rows.append([key, value])
        return _table(["key", "value"], rows)
    return None


# --------------------------------------------------------------------------------------- content
def _skip(path: Path, root: Path) -> bool:
    parts = path.relative_to(root).parts
    return any(p.startswith(".") or ".partial" in p for p in parts)


def _files(folder: Path, patterns: Iterable[str]) -> list[Path]:
    hits = {p for pat in patterns for p in folder.rglob(pat) if p.is_file()}
    return sorted((p for p in hits if not _skip(p, folder)), key=lambda p: p.relative_to(folder).as_posix())


def _png_data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


class _Counter:
    def __init__(self) -> None:
        self.figures = 0
        self.tables = 0


def stage_items(stage_dir: Path, stage: str, results_dir: Path, counter: _Counter) -> list[dict]:
    """Figures first, then JSON summaries, then CSV tables, each group sorted by path."""
    items: list[dict] = []
    for png in _files(stage_dir, ["*.png"]):
        counter.figures += 1
        items.append({
            "kind": "figure", "number": counter.figures, "src": _png_data_uri(png),
            "caption": caption_for(stage, png.stem), "source": png.relative_to(results_dir).as_posix(),
        })
    for js in _files(stage_dir, ["*.json"]):
        obj = load_json(js)
        table = json_table(obj)
        counter.tables += 1
        item = {"kind": "table" if table else "pre", "number": counter.tables,
                "caption": caption_for(stage, js.stem), "source": js.relative_to(results_dir).as_posix()}
        if table:
            item["table"] = table
        else:
            text = json.dumps(obj, indent=2, default=str)
            item["text"] = text if len(text) <= MAX_JSON_CHARS else text[:MAX_JSON_CHARS] + "\n… (truncated)"
        items.append(item)
    for tab in _files(stage_dir, ["*.csv", "*.tsv"]):
        source = tab.relative_to(results_dir).as_posix()
        frame = pd.read_csv(tab, sep="\t" if tab.suffix == ".tsv" else ",")
        counter.tables += 1
        items.append({"kind": "table", "number": counter.tables, "table": frame_table(frame, source),
                      "caption": caption_for(stage, tab.stem), "source": source})
    return items


def stage_folders(dataset_dir: Path) -> list[str]:
    present = {p.name for p in dataset_dir.iterdir()
               if p.is_dir() and not p.name.startswith(".") and ".partial" not in p.name}
    canonical = [s for s in STAGE_ORDER if s in present]
    others = sorted(present - set(STAGE_ORDER) - NON_STAGE_DIRS)
    return canonical + others


def _dataset_names(config: Mapping) -> list[str]:
    datasets = config.get("datasets") or {}
    if isinstance(datasets, Mapping):
        return [str(k) for k in datasets]
    return [str(d["name"]) if isinstance(d, Mapping) else str(d) for d in datasets]


def _read_json_or_none(path: Path) -> Any:
    return load_json(path) if path.is_file() else None


def _meta_table(meta: Mapping | None) -> dict | None:
    if not meta:
        return None
    shown = {k: v for k, v in meta.items() if k not in ("params",)}
    if "class_names" in shown:
        names = list(shown.pop("class_names"))
        shown = {"classes": f"{len(names)}: " + ", ".join(f"{i} = {n}" for i, n in enumerate(names)), **shown}
    return json_table(shown)


def _summary_row(name: str, meta: Mapping | None, scores: Mapping | None) -> list[Any]:
    def score(split, key):
        if isinstance(scores, Mapping) and isinstance(scores.get(split), Mapping):
            return scores[split].get(key)
        return None

    n_classes = None
    if isinstance(meta, Mapping):
        if "class_names" in meta:
            n_classes = len(meta["class_names"])
        else:
            n_classes = meta.get("n_classes")
    shape = meta.get("shape") if isinstance(meta, Mapping) else None
    kind = meta.get("kind") if isinstance(meta, Mapping) else None
    return [name, kind, "×".join(str(s) for s in shape) if shape else None, n_classes,
            score("val", "accuracy"), score("test", "accuracy")]


def collect_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for pkg in ("numpy", "torch", "matplotlib", "pandas", "snakemake"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = "not installed"
    try:
        versions["posthoc"] = metadata.version("posthoc")
    except metadata.PackageNotFoundError:
        pass
    return versions


def _plain(obj: Any) -> Any:
    """Config as plain YAML-able data (paths and numpy scalars become strings/numbers)."""
    return json.loads(json.dumps(obj, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def _fill_note(config: Mapping) -> str:
    section = config.get("faithfulness") or {}
    fill = section.get("fill", 0) if isinstance(section, Mapping) else 0
    text = format_value(fill)
    if isinstance(fill, numbers.Number) and float(fill) == 0.0:
        return f"{text} in normalised input space, i.e. the dataset mean"
    return f"{text} (in normalised input space; 0 would be the dataset mean)"


# ----------------------------------------------------------------------------------------- build
def _speed_caption(table: Path) -> str:
    """Caption of a speed table of the repository's ``benchmarks/results/``, from its ``.json`` sidecar."""
    meta = load_json(table.with_suffix(".json")) if table.with_suffix(".json").is_file() else {}
    where = ", ".join(f"{k}: {format_value(v)}" for k, v in meta.items())
    return (f"Explanation speed, ours vs the reference on identical work (speedup = reference_s / ours_s; "
            f"median of repeated runs){'; measured ' + where if where else ''}")


def build_context(results_dir, config: Mapping, versions: Mapping | None = None,
                  speed_tables: Iterable = ()) -> dict:
    """Everything the template shows, as plain data (no HTML).

    ``speed_tables``: CSV files measured outside the workflow (``benchmarks/results/*.csv`` of the
    repository, written by ``benchmarks/*_speed.py``), shown in the benchmarks appendix.
    """
    results_dir = Path(results_dir)
    counter = _Counter()
    datasets, summary_rows = [], []
    for name in _dataset_names(config):
        ddir = results_dir / name
        if not ddir.is_dir():
            raise FileNotFoundError(f"report: no results folder for dataset {name!r}: {ddir}")
        meta = _read_json_or_none(ddir / "data" / "meta.json")
        scores = _read_json_or_none(ddir / "model" / "scores.json")
        summary_rows.append(_summary_row(name, meta, scores))
        stages = []
        for stage in stage_folders(ddir):
            stages.append({
                "name": stage,
                "title": STAGE_TITLES.get(stage, derived_caption(stage, stage)),
                "anchor": anchor("ds", name, stage),
                "entries": stage_items(ddir / stage, stage, results_dir, counter),
            })
        datasets.append({"name": name, "anchor": anchor("ds", name), "meta": _meta_table(meta), "stages": stages})

    benchmarks = []
    bdir = results_dir / "benchmarks"
    if bdir.is_dir():
        for tab in _files(bdir, ["*.csv", "*.tsv"]):
            source = tab.relative_to(results_dir).as_posix()
            frame = pd.read_csv(tab, sep="\t" if tab.suffix == ".tsv" else ",")
            counter.tables += 1
            benchmarks.append({"kind": "table", "number": counter.tables, "table": frame_table(frame, source),
                               "caption": derived_caption("benchmarks", tab.stem), "source": source})
    for tab in map(Path, speed_tables):
        counter.tables += 1
        benchmarks.append({"kind": "table", "number": counter.tables, "table": frame_table(pd.read_csv(tab)),
                           "caption": _speed_caption(tab), "source": f"benchmarks/results/{tab.name}"})

    versions = dict(versions) if versions is not None else collect_versions()
    title = None
    if isinstance(config.get("report"), Mapping):
        title = config["report"].get("title")
    return {
        "title": title or "posthoc: post-hoc explainability study",
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "summary": _table(["dataset", "data kind", "input shape", "classes", "val accuracy", "test accuracy"],
                          summary_rows),
        "datasets": datasets,
        "benchmarks": benchmarks,
        "config_yaml": yaml.safe_dump(_plain(dict(config)), sort_keys=False, default_flow_style=False,
                                      allow_unicode=True),
        "versions": _table(["package", "version"], [[k, str(v)] for k, v in versions.items()]),
        "fill_note": _fill_note(config),
        "n_figures": counter.figures,
    }


def _environment() -> Environment:
    return Environment(loader=FileSystemLoader(str(TEMPLATE_DIR)), autoescape=select_autoescape(["html", "j2"]),
                       undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)


def _render_chunks(context: Mapping) -> Iterator[str]:
    """Stream the rendered HTML (kept separate so tests can make rendering fail midway)."""
    return _environment().get_template(TEMPLATE_NAME).generate(**context)


def build_report(results_dir, config: dict, out_path, versions: dict | None = None,
                 speed_tables: Iterable = ()) -> None:
    """Write one self-contained HTML report for ``config["datasets"]`` under ``results_dir``.

    Raises :class:`FileNotFoundError` naming a dataset whose results folder is missing. The file
    appears at ``out_path`` only once completely written.
    """
    context = build_context(results_dir, config, versions, speed_tables)
    with atomic_path(out_path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for chunk in _render_chunks(context):
                fh.write(chunk)


__all__ = ["build_report", "build_context", "caption_for", "CAPTIONS", "STAGE_ORDER", "format_value",
           "json_table", "frame_table", "collect_versions"]
