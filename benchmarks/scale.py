"""The paper study's data at its real size: peak memory per stage, input-path and model throughput.

    python benchmarks/scale.py [--fraction 1.0] [--out benchmarks/results/scale.csv] [--workdir /tmp/...]
                               [--steps 3] [--n-eval 200] [--threads 2] [--keep]

Writes a MedMNIST-format ``pathmnist_128.npz`` of PathMNIST-128's real shapes (train 89,996, val
10,004, test 7,180 RGB images of 128×128, 9 classes; uniform random content from a fixed seed, the
``fraction`` of every split), then runs each stage in its own Python process (so that each peak RSS
belongs to that stage alone; it includes the ~0.3 GB of an imported torch):

* ``prepare``: ``posthoc.data.prepare`` of the npz (streamed out of the zip, written, checksummed);
* ``train_epoch``: one epoch of the full-width AlexNet-128 at batch 512 through ``posthoc.train.fit``,
  capped at ``--steps`` batches (a memory map of the whole training split; val capped at 512 images);
* ``evaluate``: the evaluate stage over the whole test split;
* ``explain``: the explain stage (Grad-CAM of every conv layer) on ``--n-eval`` evaluation images;
* ``input_path_host`` / ``input_path_cpu``: images per second of the input path over shuffled batches
  of 512 from the training split, without a model: ``host`` is the CPU's share when the device is a
  GPU (gather the uint8 rows; conversion then runs on the GPU), ``cpu`` the device-ready float32
  batches on the CPU (conversion and normalisation included);
* ``alexnet128_fwd_bwd``: full-width AlexNet-128 forward + backward + Adam step at batch 512 (CPU).

Rows: ``stage, fraction, n_images, peak_rss_mb, seconds, images_per_s, device, note``. Disk: the npz,
the extracted arrays and the prepared arrays together take about 3 × 4.4 GB × fraction in
``--workdir`` (removed afterwards unless ``--keep``). A ``.json`` beside the CSV records the machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

SPLITS = {"train": 89_996, "val": 10_004, "test": 7_180}  # PathMNIST (MedMNIST v2), every size
SIZE, CHANNELS, CLASSES, BATCH = 128, 3, 9, 512
HERE = Path(__file__).resolve().parent
MEAN, STD = [0.5, 0.5, 0.5], [0.29, 0.29, 0.29]  # of uniform bytes (the EDA stage would measure them)


# --- synthetic data -------------------------------------------------------------------------------


def write_npz(path: Path, fraction: float, seed: int = 0) -> dict:
    """A MedMNIST-format npz (members ``{split}_images``/``{split}_labels``; stored, since random bytes do not
    compress), streamed in blocks."""
    rng = np.random.default_rng(seed)
    counts = {split: max(1, round(n * fraction)) for split, n in SPLITS.items()}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as npz:  # random bytes do not deflate
        for split, n in counts.items():
            arrays = {"images": ((n, SIZE, SIZE, CHANNELS), np.uint8), "labels": ((n, 1), np.uint8)}
            for key, (shape, dtype) in arrays.items():
                with npz.open(f"{split}_{key}.npy", "w", force_zip64=True) as member:
                    np.lib.format.write_array_header_1_0(
                        member,
                        {
                            "descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                            "fortran_order": False,
                            "shape": shape,
                        },
                    )
                    per_block = 2048
                    for start in range(0, n, per_block):
                        rows = min(per_block, n - start)
                        if key == "labels":
                            member.write(rng.integers(0, CLASSES, size=(rows, 1), dtype=np.uint8).tobytes())
                        else:
                            member.write(rng.bytes(rows * SIZE * SIZE * CHANNELS))
    return counts


# --- the stages, each run in a child process ---------------------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def child_prepare(work: Path, args) -> dict:
    from posthoc import data
    from posthoc.data import medmnist

    medmnist.fetch = lambda flag, size, root, name="<name>", downloader=None: work / "pathmnist_128.npz"
    t0 = time.perf_counter()
    meta = data.prepare(
        "pathmnist",
        {"kind": "medmnist", "flag": "pathmnist", "size": SIZE, "root": str(work)},
        work / "prepared",
        seed=0,
    )
    n = sum(meta["n_samples"].values())
    return {"n_images": n, "seconds": time.perf_counter() - t0}


def _info(model) -> dict:
    from posthoc import models

    return {
        "dataset": "pathmnist",
        "arch": "alexnet128",
        "arch_kwargs": {"width": 1.0},
        "class_names": [str(c) for c in range(CLASSES)],
        "in_channels": CHANNELS,
        "input_shape": [SIZE, SIZE],
        "mean": MEAN,
        "std": STD,
        "pixel_scale": 255.0,
        "layers": models.explainable_layers(model),
        "seed": 0,
        "epochs": 1,
    }


def child_train_epoch(work: Path, args) -> dict:
    import torch

    from posthoc import data, models
    from posthoc.train import Normaliser, fit

    train, val = (data.load_split(work / "prepared", s) for s in ("train", "val"))
    torch.manual_seed(0)
    model = models.AlexNet128(CHANNELS, CLASSES, width=1.0)
    t0 = time.perf_counter()
    fit(
        model,
        (train.images, train.labels),
        (val.images[:BATCH], val.labels[:BATCH]),
        Normaliser(MEAN, STD, 255.0),
        epochs=1,
        batch_size=BATCH,
        lr=1e-3,
        weight_decay=1e-5,
        seed=0,
        device=torch.device("cpu"),
        max_steps=args.steps,
    )
    seconds = time.perf_counter() - t0
    models.save_checkpoint(work / "model.pt", model.eval(), _info(model))
    return {
        "n_images": args.steps * BATCH + BATCH,
        "seconds": seconds,
        "note": f"{args.steps} training batches of {BATCH} + {BATCH} validation images; full split memory-mapped",
    }


def child_evaluate(work: Path, args) -> dict:
    from posthoc.stages import evaluate

    out = work / "evaluate"
    names = [
        "predictions.npz",
        "per_class.csv",
        "confusion.csv",
        "confusion.png",
        "roc.png",
        "roc_auc.csv",
        "report.csv",
    ]
    keys = [
        "out_predictions",
        "out_per_class",
        "out_confusion_csv",
        "out_confusion_png",
        "out_roc_png",
        "out_roc_auc",
        "out_report",
    ]
    t0 = time.perf_counter()
    evaluate.run(
        data_dir=str(work / "prepared"),
        checkpoint=str(work / "model.pt"),
        device="cpu",
        **{k: str(out / n) for k, n in zip(keys, names)},
    )
    return {
        "n_images": SPLITS_N(work)["test"],
        "seconds": time.perf_counter() - t0,
        "note": "whole test split, batches of 256",
    }


def child_explain(work: Path, args) -> dict:
    from posthoc.stages import explain

    t0 = time.perf_counter()
    res = explain.run(
        data_dir=str(work / "prepared"),
        checkpoint=str(work / "model.pt"),
        predictions=str(work / "evaluate" / "predictions.npz"),
        method="gradcam",
        method_params={},
        n_eval=args.n_eval,
        batch_size=128,
        seed=0,
        out_npz=str(work / "gradcam.npz"),
        out_figure=str(work / "gradcam.png"),
        device="cpu",
    )
    return {
        "n_images": res["n"],
        "seconds": time.perf_counter() - t0,
        "note": f"Grad-CAM, all conv layers, n_eval {args.n_eval} + examples",
    }


def child_input_path(work: Path, args) -> list[dict]:
    import torch

    from posthoc import data
    from posthoc.loader import DeviceBatches, index_batches
    from posthoc.train import Normaliser

    train = data.load_split(work / "prepared", "train")
    n = len(train.labels)
    order = np.random.default_rng(0).permutation(n)
    batches = index_batches(n, BATCH, order)[: max(8, int(args.input_batches))]
    images = sum(len(b) for b in batches)
    norm = Normaliser(MEAN, STD, 255.0)
    for _ in DeviceBatches(train.images, batches[:2], norm, "cpu").host_batches():
        pass  # warm-up
    rows = []
    t0 = time.perf_counter()
    for _ in DeviceBatches(train.images, batches, norm, "cpu").host_batches():
        pass  # the CPU's share of a GPU job: gather the uint8 rows in the background thread (pinned on CUDA)
    rows.append(
        {
            "stage": "input_path_host",
            "n_images": images,
            "seconds": time.perf_counter() - t0,
            "note": "uint8 rows of shuffled batches of 512, gathered by the input thread (the CPU's work when "
            "the device is a GPU; pinning not measurable without CUDA)",
        }
    )
    labels = torch.from_numpy(np.asarray(train.labels))
    t0 = time.perf_counter()
    for xb, _ in DeviceBatches(train.images, batches, norm, "cpu", with_arrays=[labels]):
        pass
    rows.append(
        {
            "stage": "input_path_cpu",
            "n_images": images,
            "seconds": time.perf_counter() - t0,
            "note": "device-ready float32 batches with the CPU as the device (conversion on the CPU)",
        }
    )
    return rows


def child_fwd_bwd(work: Path, args) -> dict:
    import torch
    import torch.nn.functional as F

    from posthoc import models

    torch.manual_seed(0)
    model = models.AlexNet128(CHANNELS, CLASSES, width=1.0).train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(BATCH, CHANNELS, SIZE, SIZE)
    y = torch.randint(0, CLASSES, (BATCH,))

    def step():
        loss = F.cross_entropy(model(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    step()  # warm-up
    t0 = time.perf_counter()
    for _ in range(args.model_steps):
        step()
    rows = [
        {
            "stage": "alexnet128_fwd_bwd",
            "n_images": args.model_steps * BATCH,
            "seconds": time.perf_counter() - t0,
            "note": f"full-width AlexNet-128, batch {BATCH}, forward+backward+Adam, {args.model_steps} steps",
        }
    ]
    model.eval()
    with torch.inference_mode():
        t0 = time.perf_counter()
        for _ in range(args.model_steps):
            model(x)
    rows.append(
        {
            "stage": "alexnet128_forward",
            "n_images": args.model_steps * BATCH,
            "seconds": time.perf_counter() - t0,
            "note": f"the same model, inference only, batch {BATCH}",
        }
    )
    return rows


def SPLITS_N(work: Path) -> dict:
    return json.loads((work / "prepared" / "meta.json").read_text())["n_samples"]


CHILDREN = {
    "prepare": child_prepare,
    "train_epoch": child_train_epoch,
    "evaluate": child_evaluate,
    "explain": child_explain,
    "input_path": child_input_path,
    "alexnet128_fwd_bwd": child_fwd_bwd,
}


def run_child(stage: str, work: Path, args) -> list[dict]:
    cmd = [
        sys.executable,
        __file__,
        "--child",
        stage,
        "--workdir",
        str(work),
        "--threads",
        str(args.threads),
        "--steps",
        str(args.steps),
        "--n-eval",
        str(args.n_eval),
        "--model-steps",
        str(args.model_steps),
        "--input-batches",
        str(args.input_batches),
    ]
    print(f"[scale] {stage} ...", flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-4000:] + done.stderr[-4000:])
        raise SystemExit(f"stage {stage} failed")
    rows = json.loads(done.stdout.strip().splitlines()[-1])
    for row in rows:
        print(f"[scale]   {row}", flush=True)
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--fraction", type=float, default=1.0)
    p.add_argument("--out", default=str(HERE / "results" / "scale.csv"))
    p.add_argument("--workdir", default=None, help="scratch folder (default: a new one in $TMPDIR)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--steps", type=int, default=3, help="training batches of the measured epoch")
    p.add_argument("--n-eval", type=int, default=200, help="evaluation images of the explanation job")
    p.add_argument("--model-steps", type=int, default=2)
    p.add_argument("--input-batches", type=int, default=60)
    p.add_argument("--stages", default=",".join(CHILDREN))
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    p.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        result = CHILDREN[args.child](Path(args.workdir), args)
        rows = result if isinstance(result, list) else [{"stage": args.child, **result}]
        rss = _peak_rss_mb()
        print(json.dumps([{**r, "peak_rss_mb": round(rss, 1)} for r in rows]))
        return
    work = Path(args.workdir or tempfile.mkdtemp(prefix="posthoc-scale-"))
    work.mkdir(parents=True, exist_ok=True)
    free_gb = shutil.disk_usage(work).free / 1e9
    need_gb = 3 * sum(SPLITS.values()) * SIZE * SIZE * CHANNELS * args.fraction / 1e9
    if need_gb > 0.9 * free_gb:
        raise SystemExit(
            f"--fraction {args.fraction} needs about {need_gb:.1f} GB in {work}, {free_gb:.1f} GB free; "
            "pass a smaller --fraction or another --workdir"
        )
    rows = []
    try:
        t0 = time.perf_counter()
        counts = write_npz(work / "pathmnist_128.npz", args.fraction)
        print(f"[scale] wrote {counts} in {time.perf_counter() - t0:.0f} s", flush=True)
        for stage in args.stages.split(","):
            rows += run_child(stage, work, args)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    import pandas as pd

    table = pd.DataFrame(rows)
    table.insert(1, "fraction", args.fraction)
    table["images_per_s"] = (table["n_images"] / table["seconds"]).round(1)
    table["device"] = "cpu"
    table = table[["stage", "fraction", "n_images", "peak_rss_mb", "seconds", "images_per_s", "device", "note"]]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():  # one file for several fractions: replace this fraction's rows
        old = pd.read_csv(out)
        table = pd.concat([old[old["fraction"] != args.fraction], table], ignore_index=True)
    table.to_csv(out, index=False)
    import torch

    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "measured": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "torch": torch.__version__,
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "threads": args.threads,
                "gpu": None,
                "raw_train_gb": SPLITS["train"] * SIZE * SIZE * CHANNELS / 1e9,
            },
            indent=2,
        )
        + "\n"
    )
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
