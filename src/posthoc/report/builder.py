"""Build the final self-contained HTML report from a results folder.

The builder is generic: it does not know which files a stage writes. For every dataset in the
config it walks ``results/<dataset>/<stage>/`` (canonical stages first, then any other stage
folder in sorted order) and renders

* every ``*.png`` as an embedded figure (base64 data URI) with a caption,
* every ``*.csv`` (and ``*.tsv``) as an HTML table (floats to 4 significant digits, long tables
  truncated with a note),
* every ``*.json`` as a table when it is a flat or two-level dict (otherwise as pretty JSON).

So a new stage (e.g. ``robustness/``) or a new figure appears in the report without editing this
module; its title and captions come from ``captions/<stage>.yaml`` (:mod:`posthoc.report.captions`,
the same text ``snakemake --report`` shows).

The HTML is streamed into a temporary file and renamed only when complete
(:func:`posthoc.io.atomic_path`), so a failed build never leaves a half-written report.
"""

from __future__ import annotations

import base64
import io
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
from posthoc.report import captions
from posthoc.report import findings as _findings
from posthoc.report import provenance as _provenance
from posthoc.report.images import embed_image

TEMPLATE_DIR = Path(__file__).resolve().parent
TEMPLATE_NAME = "template.html.j2"

#: Stage folders in report order; any other folder under ``results/<dataset>/`` follows, sorted.
STAGE_ORDER = (
    "eda",
    "model",
    "evaluation",
    "explanations",
    "faithfulness",
    "map_quality",
    "occlusion",
    "lime",
    "robustness",
    "model_gap",
)
#: Within a stage: figures/tables whose stem matches an earlier pattern come first (overview before detail;
#: degradations in the order noise, brightness, contrast); per-method files follow in the config's method order.
ITEM_ORDER = {
    "explanations": ("comparison", "per_class", "confusions"),
    "faithfulness": ("summary",),
    "robustness": ("*noise*", "*brightness*", "*contrast*"),
    "occlusion": ("*correct*", "*wrong*"),
    "lime": ("*correct*", "*wrong*"),
}
#: Tables longer than this are folded (``<details>``) in the report.
FOLD_ROWS = 12
#: Stages whose tables are all in the key findings already: folded whatever their length.
FOLDED_STAGES = frozenset({"faithfulness"})
#: Report column width in CSS pixels (figures are shown at most this wide; click opens the full image).
COLUMN_PX = 1110
#: Folders under ``results/<dataset>/`` that are not report stages (``data`` is summarised from
#: ``data/meta.json`` at the top of each dataset section instead; it holds the raw arrays).
NON_STAGE_DIRS = frozenset({"data", "logs", "benchmarks"})
MAX_TABLE_ROWS = 60
MAX_LIST_ITEMS = 20
MAX_JSON_CHARS = 6000


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
    return captions.derived_caption(stem)


def caption_for(stage: str, stem: str, source: Mapping | None = None) -> str:
    """Caption of ``<stage>/<stem>``: from ``source`` (:func:`captions.load_captions`; the repository's by default)."""
    return captions.caption_for(source if source is not None else captions.load_captions(), stage, stem)


def anchor(*parts: str) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9_-]+", "-", str(p)).strip("-") or "x" for p in parts)


# ---------------------------------------------------------------------------------------- tables
def _table(header: list[str], rows: list[list[Any]], note: str | None = None) -> dict:
    numeric = [
        all(_is_numeric(r[j]) or r[j] is None for r in rows) and any(_is_numeric(r[j]) for r in rows)
        for j in range(len(header))
    ]
    return {
        "header": [str(h) for h in header],
        "rows": [[format_value(c) for c in r] for r in rows],
        "numeric": numeric,
        "note": note,
    }


def frame_table(frame: pd.DataFrame, source: str = "") -> dict:
    total = len(frame)
    shown = frame.head(MAX_TABLE_ROWS)
    rows = [
        [None if (isinstance(v, float) and math.isnan(v)) else (v.item() if hasattr(v, "item") else v) for v in rec]
        for rec in shown.itertuples(index=False, name=None)
    ]
    note = None
    if total > MAX_TABLE_ROWS:
        note = f"Showing the first {MAX_TABLE_ROWS} of {total} rows" + (f"; full table in {source}." if source else ".")
    return _table(list(frame.columns), rows, note)


def json_table(obj: Any) -> dict | None:
    """A table for a flat or two-level dict; ``None`` if ``obj`` does not fit that shape."""
    if not isinstance(obj, Mapping) or not obj:
        return None
    nested = {k: v for k, v in obj.items() if isinstance(v, Mapping)}
    if (
        nested
        and all(_is_leafy(x) for v in nested.values() for x in v.values())
        and all(_is_leafy(v) for k, v in obj.items() if k not in nested)
        and len(nested) >= len(obj) / 2
    ):
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


def report_settings(config: Mapping) -> dict:
    """``config["report"]`` with the schema's defaults for keys left out (a bare config in tests)."""
    from posthoc.config import load_schema

    schema = load_schema()["properties"]["report"]["properties"]
    given = config.get("report") if isinstance(config.get("report"), Mapping) else {}
    return {k: given.get(k, spec.get("default")) for k, spec in schema.items()}


def _order_key(stage: str, stem: str, methods: list[str]) -> tuple:
    for i, pattern in enumerate(ITEM_ORDER.get(stage, ())):
        if fnmatch.fnmatch(stem, pattern):
            return (0, i, stem)
    for i, method in enumerate(methods):
        if stem == method or stem.startswith(method + "_"):
            return (1, i, stem)
    return (2, 0, stem)


def alt_text(stage_title: str, stem: str, dataset: str, width: int, height: int) -> str:
    """Short alternative text (what the image is, not the caption again)."""
    return f"{derived_caption('', stem)} — {stage_title.lower()}, {dataset} ({width}×{height} px figure)"


class _Counter:
    def __init__(self) -> None:
        self.figures = 0
        self.tables = 0


def stage_items(
    stage_dir: Path,
    stage: str,
    results_dir: Path,
    counter: _Counter,
    caption_source: Mapping | None = None,
    *,
    settings: Mapping | None = None,
    methods: Iterable[str] = (),
    dataset: str = "",
) -> list[dict]:
    """Figures first, then JSON summaries, then CSV tables; overview items first (:data:`ITEM_ORDER`),
    then per-method items in the config's method order, then the rest by name."""
    settings = settings or report_settings({})
    methods = list(methods)
    caps = caption_source if caption_source is not None else captions.load_captions()
    title = captions.stage_title(caps, stage)
    items: list[dict] = []
    pngs = sorted(_files(stage_dir, ["*.png"]), key=lambda p: _order_key(stage, p.stem, methods))
    for png in pngs:
        counter.figures += 1
        image = embed_image(
            png, fmt=settings["image_format"], max_width=settings["max_image_width"], quality=settings["image_quality"]
        )
        size_note = (
            f" Shown downscaled from {image.original_width}×{image.original_height} px; the full-size file is "
            f"in the results folder."
            if image.downscaled
            else ""
        )
        items.append(
            {
                "kind": "figure",
                "number": counter.figures,
                "src": image.src,
                "width": image.width,
                "height": image.height,
                "alt": alt_text(title, png.stem, dataset, image.width, image.height),
                "caption": caption_for(stage, png.stem, caps),
                "size_note": size_note,
                "source": png.relative_to(results_dir).as_posix(),
            }
        )
    for js in _files(stage_dir, ["*.json"]):
        obj = load_json(js)
        table = json_table(obj)
        counter.tables += 1
        item = {
            "kind": "table" if table else "pre",
            "number": counter.tables,
            "caption": caption_for(stage, js.stem, caps),
            "source": js.relative_to(results_dir).as_posix(),
        }
        if table:
            item["table"] = table
        else:
            text = json.dumps(obj, indent=2, default=str)
            item["text"] = text if len(text) <= MAX_JSON_CHARS else text[:MAX_JSON_CHARS] + "\n… (truncated)"
        items.append(item)
    for tab in sorted(_files(stage_dir, ["*.csv", "*.tsv"]), key=lambda p: _order_key(stage, p.stem, methods)):
        source = tab.relative_to(results_dir).as_posix()
        frame = pd.read_csv(tab, sep="\t" if tab.suffix == ".tsv" else ",")
        counter.tables += 1
        item = {
            "kind": "table",
            "number": counter.tables,
            "table": frame_table(frame, source),
            "caption": caption_for(stage, tab.stem, caps),
            "source": source,
        }
        if stage in FOLDED_STAGES:
            item["fold"] = "always"
        items.append(item)
    return items


def stage_folders(dataset_dir: Path) -> list[str]:
    present = {
        p.name for p in dataset_dir.iterdir() if p.is_dir() and not p.name.startswith(".") and ".partial" not in p.name
    }
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
    return [
        name,
        kind,
        "×".join(str(s) for s in shape) if shape else None,
        n_classes,
        score("val", "accuracy"),
        score("test", "accuracy"),
    ]


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
def _speed_caption(name: str, meta: Mapping, source: Mapping) -> str:
    """Caption of a table of the repository's ``benchmarks/results/`` (captions/benchmarks.yaml), with the
    settings of its ``.json`` sidecar."""
    where = ", ".join(f"{k}: {format_value(v)}" for k, v in meta.items())
    return captions.caption_for(source, "benchmarks", Path(name).stem) + (f"; measured {where}" if where else "")


def build_context(
    results_dir,
    config: Mapping,
    versions: Mapping | None = None,
    speed_tables: Mapping | None = None,
    caption_source: Mapping | None = None,
) -> dict:
    """Everything the template shows, as plain data (no HTML).

    ``speed_tables``: tables measured outside the workflow (``benchmarks/results/*.csv`` of the
    repository, written by ``benchmarks/*_speed.py``) as file name -> (CSV text, its ``.json`` notes),
    shown in the benchmarks appendix (contents, not paths: see :func:`read_speed_tables`).
    ``caption_source``: :func:`captions.load_captions` (the repository's ``captions/`` by default).
    """
    results_dir = Path(results_dir)
    source = caption_source if caption_source is not None else captions.load_captions()
    counter = _Counter()
    settings = report_settings(config)
    methods = list(config.get("methods") or {})
    datasets, summary_rows, key_findings = [], [], []
    for name in _dataset_names(config):
        ddir = results_dir / name
        if not ddir.is_dir():
            raise FileNotFoundError(f"report: no results folder for dataset {name!r}: {ddir}")
        meta = _read_json_or_none(ddir / "data" / "meta.json")
        scores = _read_json_or_none(ddir / "model" / "scores.json")
        summary_rows.append(_summary_row(name, meta, scores))
        stages = []
        for stage in stage_folders(ddir):
            stages.append(
                {
                    "name": stage,
                    "title": captions.stage_title(source, stage),
                    "anchor": anchor("ds", name, stage),
                    "entries": stage_items(
                        ddir / stage,
                        stage,
                        results_dir,
                        counter,
                        source,
                        settings=settings,
                        methods=methods,
                        dataset=name,
                    ),
                }
            )
        datasets.append({"name": name, "anchor": anchor("ds", name), "meta": _meta_table(meta), "stages": stages})
        key_findings.append(_dataset_findings(name, ddir, scores, f"K{len(key_findings) + 1}"))

    benchmarks = []
    runtimes = _provenance.runtimes(results_dir)
    if runtimes is not None:
        counter.tables += 1
        shown = runtimes.drop(columns=["wall s"])
        benchmarks.append(
            {
                "kind": "table",
                "number": counter.tables,
                "table": frame_table(shown),
                "caption": (
                    "Runtime of every workflow job from its benchmark file (wall time, CPU time, "
                    "peak resident memory), slowest first"
                ),
                "source": "benchmarks/",
            }
        )
    for name, (text, notes) in sorted((speed_tables or {}).items()):
        counter.tables += 1
        frame = pd.read_csv(io.StringIO(text))
        benchmarks.append(
            {
                "kind": "table",
                "number": counter.tables,
                "table": frame_table(frame),
                "caption": _speed_caption(name, notes, source),
                "source": f"benchmarks/results/{name}",
            }
        )

    versions = dict(versions) if versions is not None else collect_versions()
    return {
        "title": settings["title"],
        "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "summary": _table(
            ["dataset", "data kind", "input shape", "classes", "val accuracy", "test accuracy"], summary_rows
        ),
        "datasets": datasets,
        "benchmarks": benchmarks,
        "config_yaml": yaml.safe_dump(
            _plain(dict(config)), sort_keys=False, default_flow_style=False, allow_unicode=True
        ),
        "versions": _table(["package", "version"], [[k, str(v)] for k, v in versions.items()]),
        "fill_note": _fill_note(config),
        "n_figures": counter.figures,
        "key_findings": key_findings,
        "provenance": _provenance.provenance(config) + [["runtimes", _provenance.runtime_summary(runtimes)]],
        "fold_rows": FOLD_ROWS,
        "column_px": COLUMN_PX,
    }


def _training_note(ddir: Path) -> str | None:
    """Which epoch the scores are from, and the best validation epoch when it differs."""
    hist_path = ddir / "model" / "history.csv"
    if not hist_path.is_file():
        return None
    hist = pd.read_csv(hist_path)
    if hist.empty or "epoch" not in hist.columns:
        return None
    last = int(hist["epoch"].iloc[-1])
    text = (
        f"Scores and every explanation are from the model after the last training epoch ({last}), "
        f"not the best validation epoch"
    )
    if "val_acc" in hist.columns and hist["val_acc"].notna().any():
        best = hist.loc[hist["val_acc"].idxmax()]
        if int(best["epoch"]) != last:
            text += (
                f" (validation accuracy peaked at epoch {int(best['epoch'])}: {best['val_acc']:.3f} vs "
                f"{hist['val_acc'].iloc[-1]:.3f} at the last)"
            )
        else:
            text += " (here the last epoch is also the best by validation accuracy)"
    return text + "."


LAYER_KINDS = {
    "rectified": "the rectified outputs (the ReLU after each convolution; block outputs for ResNet/DenseNet)",
    "conv": "the convolution modules' outputs, before their ReLU",
}


def _explained_kind(ddir: Path) -> str | None:
    """``explain_layers`` as the explanation files record it (``rectified`` or ``conv``), if any file does."""
    import numpy as np

    for path in sorted((ddir / "explanations").glob("*.npz")):
        with np.load(path) as npz:
            if "explain_layers" in npz.files:
                return str(npz["explain_layers"])
    return None


def _layer_note(frame: pd.DataFrame | None, ddir: Path) -> str | None:
    if frame is None:
        return None
    own = frame[~frame["method"].isin(_findings.GAP_METHODS)].sort_values("depth", kind="stable")
    layers = list(dict.fromkeys(str(x) for x in own["layer"] if str(x) != "input"))
    kind = _explained_kind(ddir)
    if not layers or kind not in LAYER_KINDS:
        return None
    return (
        f"Layer-wise maps are taken at the checkpoint's explained layers ({', '.join(layers)}): "
        f"{LAYER_KINDS[kind]}; depth 1 is the shallowest."
    )


def _dataset_findings(name: str, ddir: Path, scores: Any, number: str) -> dict:
    frame = _findings.findings_frame(ddir)

    def test_acc(obj):
        if isinstance(obj, Mapping) and isinstance(obj.get("test"), Mapping):
            return obj["test"].get("accuracy")
        return None

    table = None
    if frame is not None:
        gap_scores = _read_json_or_none(ddir / "model_gap" / "scores.json")
        table = _findings.findings_table(frame, gap_accuracy=test_acc(gap_scores), model_accuracy=test_acc(scores))
        table["number"] = number
    return {
        "name": name,
        "anchor": anchor("kf", name),
        "table": table,
        "sentence": _findings.distinguishability(frame, name),
        "training": _training_note(ddir),
        "layers": _layer_note(frame, ddir),
        "keep_percent": (
            format_value(frame["keep_percent"].iloc[0])
            if frame is not None and "keep_percent" in frame.columns
            else None
        ),
    }


def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _render_chunks(context: Mapping) -> Iterator[str]:
    """Stream the rendered HTML (kept separate so tests can make rendering fail midway)."""
    return _environment().get_template(TEMPLATE_NAME).generate(**context)


def read_speed_tables(folder) -> dict[str, tuple[str, dict]]:
    """``benchmarks/results/*.csv`` of a folder as name -> (CSV text, the ``.json`` sidecar's notes or {})."""
    tables = {}
    for tab in sorted(Path(folder).glob("*.csv")):
        side = tab.with_suffix(".json")
        tables[tab.name] = (tab.read_text(encoding="utf-8"), load_json(side) if side.is_file() else {})
    return tables


def build_report(
    results_dir,
    config: dict,
    out_path,
    versions: dict | None = None,
    speed_tables: Mapping | None = None,
    caption_source: Mapping | None = None,
) -> None:
    """Write one self-contained HTML report for ``config["datasets"]`` under ``results_dir``.

    Raises :class:`FileNotFoundError` naming a dataset whose results folder is missing. The file
    appears at ``out_path`` only once completely written.
    """
    context = build_context(results_dir, config, versions, speed_tables, caption_source)
    with atomic_path(out_path) as tmp:
        with open(tmp, "w", encoding="utf-8") as fh:
            for chunk in _render_chunks(context):
                fh.write(chunk)


__all__ = [
    "build_report",
    "build_context",
    "caption_for",
    "read_speed_tables",
    "STAGE_ORDER",
    "format_value",
    "json_table",
    "frame_table",
    "collect_versions",
]
