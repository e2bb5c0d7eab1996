"""Dataset preparation: every kind ends in the one on-disk layout of ``posthoc.data.layout``.

``prepare(name, spec, outdir, seed)`` dispatches on ``spec["kind"]``; each kind module
exposes ``DEFAULTS`` (its spec keys and default values), ``input_size(params)`` (image side or signal length), ``check(name, params)`` (raises a
DataError naming the key for values it cannot build; cheap, no downloads, run when the config is
read: :func:`check_spec`) and ``build(name, params, seed, workdir) -> (splits, class_names, source)``; ``workdir`` is a
scratch folder inside ``outdir`` (removed afterwards) for arrays too big for memory.
"""

from __future__ import annotations

import importlib
import tempfile
from pathlib import Path
from typing import Any

from posthoc.data.layout import Split, load_split, read_meta, verify_checksum, write_dataset
from posthoc.errors import DataError
from posthoc.tasks import MULTI_CLASS

KINDS = ("mnist1d", "blockdigits", "ihc", "medmnist", "imagefolder")

__all__ = [
    "KINDS",
    "Split",
    "check_spec",
    "defaults",
    "input_size",
    "load_split",
    "prepare",
    "read_meta",
    "resolve_spec",
    "task",
    "verify_checksum",
]


def _module(name: str, kind: Any):
    if kind not in KINDS:
        raise DataError(
            f"datasets.{name}.data.kind = {kind!r} is not a known dataset kind; allowed kinds: {', '.join(KINDS)}"
        )
    return importlib.import_module(f"posthoc.data.{kind}")


def defaults(kind: str) -> dict:
    """The default spec of a dataset kind."""
    return dict(_module("<name>", kind).DEFAULTS)


def resolve_spec(name: str, spec: dict) -> dict:
    """The kind's defaults overlaid with ``spec``; unknown keys are rejected."""
    spec = dict(spec or {})
    module = _module(name, spec.get("kind"))
    unknown = sorted(set(spec) - set(module.DEFAULTS))
    if unknown:
        keys = ", ".join(f"datasets.{name}.data.{k}" for k in unknown)
        raise DataError(f"unknown key(s) {keys} for kind '{spec['kind']}'; allowed: {sorted(module.DEFAULTS)}")
    return {**module.DEFAULTS, **spec}


def check_spec(name: str, spec: dict) -> dict:
    """The resolved spec, after the kind's own checks of its values (before any job runs)."""
    params = resolve_spec(name, spec)
    _module(name, params["kind"]).check(name, params)
    return params


def input_size(name: str, spec: dict) -> int:
    """Side (pixels) or length (samples) of the samples that ``spec`` builds, known from the spec alone."""
    params = resolve_spec(name, spec)
    return int(_module(name, params["kind"]).input_size(params))


def task(name: str, spec: dict) -> str:
    """The task (:mod:`posthoc.tasks`) of the data that ``spec`` builds, known from the spec alone: a kind
    with a ``task(params)`` function says it, every other kind is ``multi-class``."""
    params = resolve_spec(name, spec)
    own = getattr(_module(name, params["kind"]), "task", None)
    return own(params) if own else MULTI_CLASS


def prepare(name: str, spec: dict, outdir, seed: int) -> dict:
    """Build dataset ``name`` from its config ``spec`` (``datasets.<name>.data``) into
    ``outdir``; returns the meta dict written to ``outdir/meta.json``."""
    params = resolve_spec(name, spec)
    module = _module(name, params["kind"])
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".prepare-", dir=outdir) as workdir:
        splits, class_names, source = module.build(name, params, int(seed), Path(workdir))
        meta = write_dataset(
            outdir,
            name,
            params["kind"],
            splits,
            class_names,
            source,
            {**params, "seed": int(seed)},
            task=task(name, params),
        )
        del splits  # release memory maps into workdir before it is removed
    return meta
