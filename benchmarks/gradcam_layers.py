"""Grad-CAM drop/increase rates per layer on rectified vs conv layers of trained models.

Usage: python benchmarks/gradcam_layers.py [RESULTS_DIR] [KEEP_PERCENT] [DATASET ...]

For each dataset it loads the trained model (RESULTS_DIR/<dataset>/model/checkpoint.pt) and the
evaluation images of its Grad-CAM explanations (RESULTS_DIR/<dataset>/explanations/gradcam.npz),
explains them with Grad-CAM at the rectified (ReLU) outputs and at the convolution outputs, and
scores both with the study's drop/increase rates (fill 0 = dataset mean). Prints one table and
writes benchmarks/results/gradcam_layers.csv. Nothing is retrained.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from posthoc.explain import explain
from posthoc.metrics import drop_increase
from posthoc.models import explainable_layers, load_checkpoint

OUT = Path(__file__).parent / "results" / "gradcam_layers.csv"


def main(results: str = "results", keep_percent: float = 30.0, datasets: list[str] | None = None) -> pd.DataFrame:
    root = Path(results)
    datasets = datasets or sorted(p.parent.name for p in root.glob("*/model/checkpoint.pt"))
    frames = []
    for name in datasets:
        model, _ = load_checkpoint(root / name / "model" / "checkpoint.pt")
        f = np.load(root / name / "explanations" / "gradcam.npz")
        sel = f["subset"] == "evaluation"
        x, target = torch.from_numpy(f["x"][sel]), torch.from_numpy(f["target"][sel])
        for mode in ("rectified", "conv"):
            layers = explainable_layers(model, mode)
            maps, raws = [], []
            for start in range(0, len(x), 32):
                att = explain("gradcam", model, x[start : start + 32], target[start : start + 32], layers)
                maps.append(att.maps)
                raws.append(att.raw)
            table = drop_increase(model, x, torch.cat(maps), target, keep_percent, raw=torch.cat(raws))
            table.insert(0, "dataset", name)
            table.insert(1, "explain_layers", mode)
            table.insert(2, "layer", [layers[i] for i in table.pop("layer_index")])
            frames.append(table)
    out = pd.concat(frames, ignore_index=True)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(OUT, index=False)
    print(out.to_string(index=False))
    return out


if __name__ == "__main__":
    args = sys.argv[1:]
    main(args[0] if args else "results", float(args[1]) if len(args) > 1 else 30.0, args[2:] or None)
