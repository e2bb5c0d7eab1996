"""Stage: exploratory analysis (seed 000 §2.1) and the normalisation statistics. For a multi-label dataset the
class-distribution figure shows the share of images carrying each label and the labels' co-occurrence."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import data, eda, io
from ..plots import eda as figures
from ..tasks import MULTI_LABEL


def run(*, dataset: str, meta: str, stats: str, sample_batch: str, class_distribution: str, one_per_class: str) -> dict:
    """Statistics and figures of the dataset whose ``meta`` (meta.json) lies beside its split arrays."""
    data_dir = str(Path(meta).parent)
    out_stats, out_sample_batch, out_class_distribution, out_one_per_class = (
        stats,
        sample_batch,
        class_distribution,
        one_per_class,
    )
    meta = data.read_meta(data_dir)
    names = meta["class_names"]
    stats = eda.dataset_stats(data_dir)
    train = data.load_split(data_dir, "train")
    io.save_json(out_stats, stats)
    io.save_figure(
        figures.sample_grid(train.images[:32], train.labels[:32], names, title=f"{meta['name']}: a training batch"),
        out_sample_batch,
    )
    counts = {split: np.asarray(stats["class_counts"][split]) for split in ("train", "val", "test")}
    if meta.get("task") == MULTI_LABEL:  # labels are not exclusive: shares of images, and which labels co-occur
        shares = {split: counts[split] / stats["n_samples"][split] for split in counts}
        figure = figures.label_frequency(
            shares, eda.co_occurrence(train.labels), names, title=f"{meta['name']}: label frequency (multi-label)"
        )
    else:
        figure = figures.class_distribution(counts, names, title=f"{meta['name']}: class distribution")
    io.save_figure(figure, out_class_distribution)
    first = eda.first_per_class(train.labels, len(names))
    first = first[first >= 0]
    io.save_figure(
        figures.one_per_class(
            train.images[first], train.labels[first], names, title=f"{meta['name']}: one sample per class"
        ),
        out_one_per_class,
    )
    print(f"mean={stats['mean']} std={stats['std']}")
    return stats
