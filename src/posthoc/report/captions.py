"""The one caption source of both reports (results/report.html and ``snakemake --report``).

``captions/<stage>.yaml`` of the repository gives a stage folder (``results/<dataset>/<stage>/``) its
title and captions: ``title:`` and ``captions:`` (a mapping file-stem glob -> sentence, first match
wins). An explanation method's own figure (``explanations/<method>.png``) takes the caption its
module declares (``METHOD.caption``). Anything else gets a caption derived from its file name.
"""

from __future__ import annotations

import fnmatch
import re
from pathlib import Path
from typing import Mapping

import yaml

from ..explain.registry import declared

#: ``captions/`` of the repository that holds this package (src layout)
CAPTIONS_DIR = Path(__file__).resolve().parents[3] / "captions"


def load_captions(folder: str | Path = CAPTIONS_DIR) -> dict[str, dict]:
    """Every ``<stage>.yaml`` of ``folder`` as stage -> {"title": str, "captions": {glob: sentence}}."""
    found = {}
    for path in sorted(Path(folder).glob("*.yaml")):
        entry = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        unknown = set(entry) - {"title", "captions"}
        if unknown or not isinstance(entry.get("captions", {}), Mapping):
            raise ValueError(
                f"{path}: expected keys title and captions (a mapping glob -> sentence), got {sorted(entry)}"
            )
        found[path.stem] = {
            "title": str(entry.get("title") or path.stem),
            "captions": {str(k): str(v) for k, v in (entry.get("captions") or {}).items()},
        }
    return found


def derived_caption(stem: str) -> str:
    words = re.sub(r"[_\-.]+", " ", stem).strip()
    return (words[:1].upper() + words[1:]) if words else stem


def stage_title(captions: Mapping, stage: str) -> str:
    return captions.get(stage, {}).get("title") or derived_caption(stage)


def caption_for(captions: Mapping, stage: str, stem: str) -> str:
    """The caption of file ``<stage>/<stem>.*``: the stage's YAML, else the method registry, else its name."""
    for pattern, text in captions.get(stage, {}).get("captions", {}).items():
        if fnmatch.fnmatch(stem, pattern):
            return text
    methods = declared()
    if stage == "explanations" and stem in methods and methods[stem].caption:
        return methods[stem].caption
    return derived_caption(stem)
