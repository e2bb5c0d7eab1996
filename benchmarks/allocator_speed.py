"""Stage work under glibc's default allocator settings against pinned ones, each run in a fresh process.

    PYTHONPATH=src python benchmarks/allocator_speed.py [--repeats 5] [--threads 1] [--workloads a,b]

glibc's malloc adapts its thresholds as a process runs: freed top-of-heap memory above
``M_TRIM_THRESHOLD`` goes back to the OS, and blocks above the (dynamic) ``M_MMAP_THRESHOLD`` are
mmapped and unmapped one by one. Torch's CPU allocator frees every activation after use, so a
process can end up returning and re-faulting its activation buffers on every forward pass. Settings:

* ``default``: glibc as it comes;
* ``env``: ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` / ``MALLOC_TOP_PAD_`` in the environment;
* ``mallopt``: the same values set by :func:`posthoc.runtime.pin_allocator` after the imports, where
  ``run_rule`` calls it.

Workloads (random data and weights: speed does not depend on training), the default study's models:
training (:func:`posthoc.train.fit`) of the 1-D CNN (4000 signals of length 40, batch 100, 2 epochs
with validation) and of AlexNet-128 at width 0.25 (3000 uint8 images 64×64×3, batch 64, 1 epoch);
Grad-CAM of every explained layer and integrated gradients (64 steps) in the explain stage's batches
of 64; and the 1-D CNN's batched inference over 1000 signals. Each worker process times only the work
(after imports, data and model) and reports its wall time, its minor page faults during the work
(``ru_minflt``) and its peak resident memory (``ru_maxrss``, the whole process).

The settings alternate from process to process (default, env, mallopt, default, ...), so load from
other processes hits them alike. Writes ``benchmarks/results/allocator_speed.csv``: one row per
(workload, setting) with the median seconds, their min/max, median minor faults and median peak RSS,
and ``ratio`` = median default seconds / median seconds of the setting (above 1: faster than default)
with ``ratio_lo``/``ratio_hi`` the ratio's range over the paired processes (round i of default
against round i of the setting). Raw per-process rows go to ``allocator_speed_runs.csv``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SETTINGS = ("default", "env", "mallopt")
WORKLOADS = (
    "train_cnn1d",
    "train_alexnet",
    "gradcam_cnn1d",
    "gradcam_alexnet",
    "ig_cnn1d",
    "ig_alexnet",
    "predict_cnn1d",
)


def env_for(setting: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    if setting == "env":
        from posthoc.runtime import MALLOC_SETTINGS

        env.update({f"MALLOC_{name}_": str(value) for name, value in MALLOC_SETTINGS.items()})
    return env


# --- worker -----------------------------------------------------------------------------------------


def _workload(name: str):
    """Build data and model of ``name``; return the function that does the timed work."""
    import numpy as np
    import torch

    from posthoc.explain.gradcam import gradcam
    from posthoc.explain.integrated_gradients import integrated_gradients
    from posthoc.models.architectures import CNN1D, AlexNet128
    from posthoc.models.layers import explainable_layers
    from posthoc.train import Normaliser, fit, predict_logits

    rng = np.random.default_rng(0)
    torch.manual_seed(0)
    if name.endswith("cnn1d"):
        model = CNN1D(1, 10, length=40, channels=(32, 32, 32, 32))
        samples = rng.standard_normal((4000, 40)).astype(np.float32)
        normalise = Normaliser([0.0], [1.0], 1.0)
    else:
        model = AlexNet128(3, 10, width=0.25)
        samples = rng.integers(0, 256, (3000, 64, 64, 3), dtype=np.uint8)
        normalise = Normaliser([0.5] * 3, [0.25] * 3, 255.0)
    labels = rng.integers(0, 10, len(samples))
    n_val = 500 if name.endswith("cnn1d") else 300
    layers = explainable_layers(model)

    def explain(method, n: int, **kw):
        model.eval()
        for start in range(0, n, 64):
            x = normalise(samples[start : start + 64])
            method(model, x, torch.from_numpy(labels[start : start + 64]), **kw)

    if name == "train_cnn1d":
        return lambda: fit(model, (samples, labels), (samples[:n_val], labels[:n_val]), normalise, epochs=2,
                           batch_size=100, lr=3e-3, weight_decay=1e-5, seed=1, device=torch.device("cpu"))  # fmt: skip
    if name == "train_alexnet":
        return lambda: fit(model, (samples, labels), (samples[:n_val], labels[:n_val]), normalise, epochs=1,
                           batch_size=64, lr=3e-4, weight_decay=1e-5, seed=1, device=torch.device("cpu"))  # fmt: skip
    if name.startswith("gradcam"):
        return lambda: explain(gradcam, 1000 if name.endswith("cnn1d") else 500, layers=layers)
    if name == "ig_cnn1d":
        return lambda: explain(integrated_gradients, 256, steps=64)
    if name == "ig_alexnet":
        return lambda: explain(integrated_gradients, 64, steps=64)
    if name == "predict_cnn1d":
        return lambda: predict_logits(model, samples[:1000], normalise)
    raise ValueError(name)


def worker(name: str, setting: str, threads: int) -> dict:
    import resource

    import torch

    import posthoc.rule  # noqa: F401  (what a rule script imports before run_rule)
    from posthoc.runtime import pin_allocator

    torch.set_num_threads(threads)
    pinned = pin_allocator() if setting == "mallopt" else None
    work = _workload(name)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.perf_counter()
    work()
    seconds = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "workload": name,
        "setting": setting,
        "seconds": seconds,
        "minflt": after.ru_minflt - usage.ru_minflt,
        "maxrss_mb": after.ru_maxrss / 1024,
        "pinned": pinned,
    }


# --- driver -----------------------------------------------------------------------------------------


def run_one(name: str, setting: str, threads: int) -> dict:
    cmd = [sys.executable, __file__, "--worker", name, "--setting", setting, "--threads", str(threads)]
    out = subprocess.run(cmd, env=env_for(setting), capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict]) -> list[dict]:
    rows = []
    for name in dict.fromkeys(r["workload"] for r in runs):
        base = [r["seconds"] for r in runs if r["workload"] == name and r["setting"] == "default"]
        for setting in SETTINGS:
            mine = [r for r in runs if r["workload"] == name and r["setting"] == setting]
            if not mine:
                continue
            secs = [r["seconds"] for r in mine]
            paired = [b / s for b, s in zip(base, secs)]
            rows.append(
                {
                    "workload": name,
                    "setting": setting,
                    "processes": len(mine),
                    "median_s": round(statistics.median(secs), 4),
                    "min_s": round(min(secs), 4),
                    "max_s": round(max(secs), 4),
                    "median_minflt": int(statistics.median(r["minflt"] for r in mine)),
                    "max_minflt": max(r["minflt"] for r in mine),
                    "median_maxrss_mb": round(statistics.median(r["maxrss_mb"] for r in mine), 1),
                    "ratio": round(statistics.median(base) / statistics.median(secs), 3),
                    "ratio_lo": round(min(paired), 3),
                    "ratio_hi": round(max(paired), 3),
                }
            )
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    p.add_argument("--out", default=str(HERE / "results" / "allocator_speed.csv"))
    p.add_argument("--worker")
    p.add_argument("--setting", default="default")
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.setting, args.threads)))
        return
    import pandas as pd

    runs = []
    for name in args.workloads.split(","):
        for i in range(args.repeats):
            order = SETTINGS if i % 2 == 0 else SETTINGS[::-1]
            for setting in order:
                runs.append(run_one(name, setting, args.threads))
                r = runs[-1]
                print(f"{name:16s} {setting:8s} {r['seconds']:8.3f} s {r['minflt']:8d} faults "
                      f"{r['maxrss_mb']:7.1f} MB", flush=True)  # fmt: skip
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(runs).drop(columns="pinned").to_csv(out.with_name(out.stem + "_runs.csv"), index=False)
    table = pd.DataFrame(summarise(runs))
    table.to_csv(out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
