"""The output contract: where every stage writes, relative to the results folder.

The workflow rules and the report builder both take their paths from here, so the layout is
written down once.
"""
from __future__ import annotations

from pathlib import Path

SPLITS = ("train", "val", "test")


def data_dir(results, dataset) -> Path:
    return Path(results) / dataset / "data"


def split_files(results, dataset, split) -> dict[str, Path]:
    d = data_dir(results, dataset)
    return {"images": d / f"{split}_images.npy", "labels": d / f"{split}_labels.npy"}


def eda_dir(results, dataset) -> Path:
    return Path(results) / dataset / "eda"


def model_dir(results, dataset) -> Path:
    return Path(results) / dataset / "model"


def evaluation_dir(results, dataset) -> Path:
    return Path(results) / dataset / "evaluation"


def explanation_file(results, dataset, method) -> Path:
    return Path(results) / dataset / "explanations" / f"{method}.npz"


def faithfulness_file(results, dataset, method) -> Path:
    return Path(results) / dataset / "faithfulness" / f"{method}.csv"
