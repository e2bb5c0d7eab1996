"""Seconds of one explanation batch (32 images) per architecture and gradient method, on the CPU.

Usage: python benchmarks/architecture_speed.py [SIZE] [ROUNDS] [ARCH ...]
Randomly initialised models (as ``models.build_model`` builds them), 3 × SIZE × SIZE inputs (default
64, MedMNIST's usual size), rectified explained layers; the median of ROUNDS timed runs after one
warm-up. Writes benchmarks/results/architecture_speed.csv.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from posthoc.explain import explain
from posthoc.models import build_model, explainable_layers, gap_model

OUT = Path(__file__).parent / "results" / "architecture_speed.csv"
METHODS = {
    "gradcam": {},
    "guided_gradcam": {},
    "saliency": {},
    "guided_backprop": {},
    "deconvnet": {},
    "integrated_gradients": {"steps": 16, "internal_batch_size": 128},
    "cam": {},
}


def main(size: int = 64, rounds: int = 2, archs: list[str] | None = None) -> pd.DataFrame:
    archs = archs or ["alexnet128", "vgg7", "vgg16", "resnet18", "resnet50", "densenet121"]
    rows = []
    torch.manual_seed(0)
    x, target = torch.randn(32, 3, size, size), torch.randint(0, 8, (32,))
    for arch in archs:
        model = build_model(arch, 3, 8, (size, size), **({"width": 0.25} if arch == "alexnet128" else {})).eval()
        layers = explainable_layers(model)
        for method, params in METHODS.items():
            m = gap_model(model, layers[-1], 3, (size, size), 8).eval() if method == "cam" else model
            explain(method, m, x, target, layers, **params)  # warm-up
            times = []
            for _ in range(rounds):
                t0 = time.perf_counter()
                explain(method, m, x, target, layers, **params)
                times.append(time.perf_counter() - t0)
            rows.append(
                {
                    "arch": arch,
                    "method": method,
                    "n_layers": len(layers),
                    "batch": 32,
                    "size": size,
                    "seconds": float(np.median(times)),
                    "threads": torch.get_num_threads(),
                }
            )
            print(rows[-1], flush=True)
    out = pd.DataFrame(rows)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(OUT, index=False)
    return out


if __name__ == "__main__":
    a = sys.argv[1:]
    main(int(a[0]) if a else 64, int(a[1]) if len(a) > 1 else 2, a[2:] or None)
