"""Occlusion sweeps on MNIST-1D with windows in 128-px units scaled to 40 samples vs windows in samples.

Trains the default study's 1-D CNN (15 epochs), then scans 50 test signals with seed 000's 128-px
sweep scaled to the 40-sample input (10/3, 20/3, 25/3, 28/6: how windows were given before they were
set per dataset) and with the default study's sweep in samples (2/1, 4/2, 8/2, 12/4). Writes the
sweep summary of each row, plus the median occluded p(true) and the share of windows with p(true) < 0.01,
to benchmarks/results/occlusion_units.csv. Run: ``PYTHONPATH=src python benchmarks/occlusion_units.py``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from posthoc import data, eda, models
from posthoc.explain.occlusion import scan
from posthoc.stages.occlusion import sweep_summary
from posthoc.train import Normaliser, fit, loss_and_accuracy, predict_logits, seed_everything

SWEEPS = {
    "128-px values scaled to 40 samples": [(10, 3), (20, 3), (25, 3), (28, 6)],
    "samples (default study)": [(2, 1), (4, 2), (8, 2), (12, 4)],
}


def main(n_images: int = 50, epochs: int = 15, seed: int = 1) -> pd.DataFrame:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        data.prepare("mnist1d", {"kind": "mnist1d", "n_val": 500}, tmp, seed=seed)
        stats = eda.dataset_stats(tmp)
        splits = {s: data.load_split(tmp, s, mmap=False) for s in ("train", "val", "test")}
    norm = Normaliser(stats["mean"], stats["std"], stats["pixel_scale"])
    seed_everything(seed)
    model = models.build_model("cnn1d", 1, 10, (40,), channels=[32, 32, 32, 32], kernel_size=5)
    fit(
        model,
        (splits["train"].images, splits["train"].labels),
        (splits["val"].images, splits["val"].labels),
        norm,
        epochs=epochs,
        batch_size=100,
        lr=3e-3,
        weight_decay=1e-5,
        seed=seed,
        device=torch.device("cpu"),
    )
    accuracy = loss_and_accuracy(predict_logits(model, splits["test"].images, norm), splits["test"].labels)[1]
    x, y = norm(splits["test"].images[:n_images]), torch.as_tensor(splits["test"].labels[:n_images])
    rows = []
    for units, sweep in SWEEPS.items():
        for window, stride in sweep:
            res = scan(model, x, y, window, stride)
            p = res.prob.flatten(1).numpy()
            rows.append(
                {
                    "units": units,
                    "window": window,
                    "stride": stride,
                    **sweep_summary(res),
                    "median_p_true_occluded": float(np.median(p)),
                    "share_p_true_below_0.01": float((p < 0.01).mean()),
                    "test_accuracy": accuracy,
                }
            )
    out = pd.DataFrame(rows)
    path = Path(__file__).with_name("results") / "occlusion_units.csv"
    out.to_csv(path, index=False)
    print(out.to_string(index=False))
    return out


if __name__ == "__main__":
    main()
