"""Where and how a study was run: git commit, host, device, seeds, date, and per-rule runtimes.

Runtimes come from the ``benchmark:`` files the rules write (``results/benchmarks/<dataset>/<rule>.tsv``
or ``results/benchmarks/<rule>.tsv``, Snakemake's benchmark format: ``s``, ``max_rss``, ``cpu_time``
...). They survive ``snakemake --touch``, unlike Snakemake's own job metadata.
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import subprocess
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

#: The repository this package was loaded from (an editable install of the workflow's checkout).
REPO = Path(__file__).resolve().parents[3]


def git_commit(repo=REPO) -> str:
    """``<short hash> (<date>)``, with ``+ uncommitted changes`` when the work tree differs; or ``unknown``."""

    def git(*args):
        return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=20)

    try:
        head = git("log", "-1", "--format=%h (%cs)")
        if head.returncode != 0 or not head.stdout.strip():
            return "unknown (not a git checkout)"
        dirty = git("status", "--porcelain", "--untracked-files=no")
        return head.stdout.strip() + (" + uncommitted changes" if dirty.stdout.strip() else "")
    except (OSError, subprocess.TimeoutExpired):
        return "unknown (git not available)"


def device_description(preference: str) -> str:
    """The device setting and what it resolves to on this host (the host that built the report)."""
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return f"{preference} (torch not importable)"
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        resolved = f"cuda ({name})" if preference in ("auto", "cuda") else preference
    else:
        resolved = "cpu"
    cpu = platform.processor() or platform.machine()
    return f"{preference} → {resolved}; {os.cpu_count()} CPU cores ({cpu})"


def seeds(config: Mapping) -> str:
    """Every ``seed`` key of the config as dotted paths: ``seed = 3; methods.lime.seed = 0``."""
    found: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                sub = f"{path}.{key}" if path else str(key)
                if key in ("seed", "seeds", "replicates") and not isinstance(value, Mapping):
                    found.append(f"{sub} = {value}")
                else:
                    walk(value, sub)

    walk(config, "")
    return "; ".join(found) or "none set"


def provenance(config: Mapping, *, repo=REPO) -> list[list[str]]:
    """Rows ``[what, value]`` for the report header."""
    return [
        ["commit", git_commit(repo)],
        [
            "host",
            f"{socket.gethostname()} ({platform.system()} {platform.release()}, Python {platform.python_version()})",
        ],
        ["device", device_description(str(config.get("device", "auto")))],
        ["seeds", seeds(config)],
        ["date", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")],
    ]


def _hms(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def runtimes(results_dir) -> pd.DataFrame | None:
    """One row per benchmark file: rule, dataset, wall time, CPU time and peak memory; slowest first."""
    bdir = Path(results_dir) / "benchmarks"
    rows = []
    for tsv in sorted(bdir.rglob("*.tsv")) if bdir.is_dir() else []:
        try:
            frame = pd.read_csv(tsv, sep="\t")
        except (pd.errors.EmptyDataError, pd.errors.ParserError):
            continue
        if "s" not in frame.columns or frame.empty:
            continue
        rel = tsv.relative_to(bdir)
        row = frame.apply(pd.to_numeric, errors="coerce").iloc[-1]  # with repeats: the last one; "-" → NaN
        rows.append(
            {
                "rule": tsv.stem,
                "dataset": rel.parts[0] if len(rel.parts) > 1 else "–",
                "wall time": _hms(float(row["s"])),
                "wall s": float(row["s"]),
                "CPU s": float(row["cpu_time"]) if "cpu_time" in row.index else float("nan"),
                "peak RSS MB": float(row["max_rss"]) if "max_rss" in row.index else float("nan"),
            }
        )
    if not rows:
        return None
    return pd.DataFrame(rows).sort_values("wall s", ascending=False, kind="stable").reset_index(drop=True)


def runtime_summary(frame: pd.DataFrame | None) -> str:
    if frame is None:
        return "no benchmark files under results/benchmarks/"
    total = frame["wall s"].sum()
    top = frame.iloc[0]
    return (
        f"{len(frame)} jobs, {_hms(total)} of job time in total (sum over jobs; parallel jobs overlap); "
        f"slowest: {top['rule']} on {top['dataset']} ({top['wall time']})"
    )


__all__ = ["REPO", "device_description", "git_commit", "provenance", "runtime_summary", "runtimes", "seeds"]
