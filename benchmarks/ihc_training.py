"""How well and how fast a small AlexNet-128 learns the ihc tissue patches on the CPU.

Prepares the dataset kind ``ihc`` with the given sizes, trains ``alexnet128`` (width 0.25) with the
default study's settings and writes per-epoch wall time, CPU time (all threads; on a quiet machine the
wall time with 2 threads is about half of it) and accuracies to benchmarks/results/ihc_training.csv.
Run: ``PYTHONPATH=src python benchmarks/ihc_training.py [epochs] [threads]``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

from posthoc import data, eda, models
from posthoc.train import Normaliser, fit, loss_and_accuracy, predict_logits, seed_everything

SPEC = {"kind": "ihc", "patch_size": 48, "stride": 4, "n_train": 3000, "n_val": 300, "n_test": 600}
TRAIN = {"batch_size": 64, "lr": 3.0e-4, "weight_decay": 1.0e-5}


def main(epochs: int = 12, threads: int = 2, seed: int = 1) -> pd.DataFrame:
    torch.set_num_threads(threads)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        meta = data.prepare("tissue", SPEC, tmp, seed=seed)
        t_prepare = time.perf_counter() - t0
        stats = eda.dataset_stats(tmp)
        splits = {s: data.load_split(tmp, s, mmap=False) for s in ("train", "val", "test")}
        norm = Normaliser(stats["mean"], stats["std"], stats["pixel_scale"])
        seed_everything(seed)
        model = models.build_model("alexnet128", 3, 3, tuple(meta["shape"][:2]), width=0.25)
        rows, start, cpu_start = [], time.perf_counter(), time.process_time()
        path = Path(__file__).with_name("results") / "ihc_training.csv"

        def on_epoch(row):
            test = loss_and_accuracy(predict_logits(model, splits["test"].images, norm), splits["test"].labels)[1]
            model.train()
            rows.append(
                {
                    **row,
                    "test_accuracy": test,
                    "wall_s": time.perf_counter() - start,
                    "cpu_s": time.process_time() - cpu_start,
                    "threads": threads,
                }
            )
            pd.DataFrame(rows).to_csv(path, index=False)  # after every epoch: a long run can be stopped early
            print(rows[-1], flush=True)

        fit(
            model,
            (splits["train"].images, splits["train"].labels),
            (splits["val"].images, splits["val"].labels),
            norm,
            epochs=epochs,
            seed=seed,
            device=torch.device("cpu"),
            on_epoch=on_epoch,
            **TRAIN,
        )
    out = pd.DataFrame(rows).assign(prepare_s=t_prepare, **{f"data_{k}": v for k, v in SPEC.items()})
    out.to_csv(path, index=False)
    print(f"wrote {path}")
    return out


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:]))
