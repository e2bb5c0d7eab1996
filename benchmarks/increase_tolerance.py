"""Measure the rounding noise of the target probability, to justify ``map_quality.increase_tolerance``.

    python benchmarks/increase_tolerance.py RESULTS_DIR DATASET [METHOD ...] --out increase_tolerance.csv

For a trained study (``RESULTS_DIR/DATASET/model/checkpoint.pt`` and ``explanations/{method}.npz``) this
recomputes p (softmax of float32 logits, taken in float64 as the metrics do) of the evaluation images in
four batch compositions (all at once, reversed order, batches of 7 and of 1): identical inputs, so any difference
is float32 rounding. It then counts, per method (last layer, top-k kept), the images whose "increase"
p′ − p is positive but at most each candidate tolerance, and the images at saturation (p ≥ 1 − tol).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from posthoc.metrics.deletion import keep_top_scores
from posthoc.models import load_checkpoint

TOLERANCES = (0.0, 1e-8, 1.19e-7, 1e-6, 1e-5)
BATCHES = (None, 7, 1)  # all at once (also reversed), 7 and 1 per pass


@torch.no_grad()
def _p(model, x, t, batch):
    out = []
    for s in range(0, len(x), batch):
        out.append(torch.softmax(model(x[s : s + batch]).double(), 1).gather(1, t[s : s + batch].view(-1, 1))[:, 0])
    return torch.cat(out).numpy()


def rows(results: Path, dataset: str, methods: list[str], keep_percent: float) -> list[dict]:
    model, _ = load_checkpoint(results / dataset / "model" / "checkpoint.pt")
    model.eval()
    out = []
    for method in methods:
        f = np.load(results / dataset / "explanations" / f"{method}.npz")
        sel = f["subset"] == "evaluation"
        x, t = torch.from_numpy(f["x"][sel]), torch.from_numpy(f["target"][sel])
        p_all = _p(model, x, t, len(x))
        rev = _p(model, x.flip(0), t.flip(0), len(x))[::-1]
        noise = np.abs(np.stack([rev - p_all] + [_p(model, x, t, b) - p_all for b in BATCHES[1:]]))
        raw = torch.from_numpy(f["maps_raw"][sel]) if "maps_raw" in f.files else None
        p, kept = keep_top_scores(
            model, x, torch.from_numpy(f["maps"][sel]), t, keep_percent=keep_percent, fill=0.0, raw=raw, batch_size=256
        )
        gain = kept[:, -1] - p
        for tol in TOLERANCES:
            out.append(
                {
                    "dataset": dataset,
                    "method": method,
                    "tolerance": tol,
                    "n": len(p),
                    "batch_noise_max": float(noise.max()),
                    "batch_noise_p99": float(np.quantile(noise, 0.99)),
                    "saturated": int((p >= 1 - max(tol, 1e-12)).sum()),
                    "increases": int((gain > tol).sum()),
                    "gains_in_(0,tol]": int(((gain > 0) & (gain <= tol)).sum()),
                }
            )
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path)
    ap.add_argument("dataset")
    ap.add_argument("methods", nargs="*", default=["gradcam", "integrated_gradients"])
    ap.add_argument("--keep-percent", type=float, default=30.0)
    ap.add_argument("--out", default="increase_tolerance.csv")
    args = ap.parse_args()
    frame = pd.DataFrame(rows(args.results, args.dataset, args.methods, args.keep_percent))
    path = Path(__file__).parent / "results" / args.out
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False, mode="a" if path.exists() else "w", header=not path.exists())
    print(frame.to_string(index=False))


if __name__ == "__main__":
    main()
