"""The paper study's data at its real size: peak memory per stage, input-path and model throughput.

    python benchmarks/scale.py [--fraction 1.0] [--out benchmarks/results/scale.csv] [--workdir /tmp/...]
                               [--steps 3] [--n-eval 200] [--threads 2] [--keep]
                               [--device cpu|cuda] [--amp off|bf16|fp16] [--compile] [--methods gradcam,...]

Writes a MedMNIST-format ``pathmnist_128.npz`` of PathMNIST-128's real shapes (train 89,996, val
10,004, test 7,180 RGB images of 128×128, 9 classes; uniform random content from a fixed seed, the
``fraction`` of every split), then runs each stage in its own Python process (so that each peak RSS
belongs to that stage alone; it includes the ~0.3 GB of an imported torch):

* ``prepare``: ``posthoc.data.prepare`` of the npz (streamed out of the zip, written, checksummed);
* ``train_epoch``: one epoch of the full-width AlexNet-128 at batch 512 through ``posthoc.train.fit``,
  capped at ``--steps`` batches (a memory map of the whole training split; val capped at 512 images);
* ``evaluate``: the evaluate stage over the whole test split;
* ``explain``: the explain stage of each of ``--methods`` (settings of configs/paper.yaml, schema defaults
  filled in) on ``--n-eval`` evaluation images, one row per method;
* ``input_path_host`` / ``input_path_cpu``: images per second of the input path over shuffled batches
  of 512 from the training split, without a model: ``host`` is the CPU's share when the device is a
  GPU (gather the uint8 rows; conversion then runs on the GPU), ``cpu`` the device-ready float32
  batches on the CPU (conversion and normalisation included);
* ``alexnet128_fwd_bwd``: full-width AlexNet-128 forward + backward + Adam step at batch 512, and
  inference alone.

``--device cuda`` runs training, evaluation, explanation, the input path and the model throughput on
the GPU (``--amp``/``--compile`` as ``train.amp``/``train.compile``); the training row then also
carries the GPU's busy share and memory sampled by ``nvidia-smi`` every 100 ms. ``--steps 0`` trains
a whole epoch.

Rows: ``stage, fraction, n_images, peak_rss_mb, seconds, images_per_s, device, note`` (+ ``gpu_util_*``,
``gpu_memory_mb`` on a GPU); rows of another fraction or device in ``--out`` are kept. Disk: the npz,
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


class GpuUtilisation:
    """Samples ``nvidia-smi`` every 100 ms during the block (CUDA only): the GPU's busy share and memory."""

    def __init__(self, device: str):
        self.active = device.startswith("cuda") and shutil.which("nvidia-smi") is not None
        self.lines: list[str] = []

    def __enter__(self):
        if self.active:
            query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
            self.proc = subprocess.Popen([*query, "-lms", "100"], stdout=subprocess.PIPE, text=True)
        return self

    def __exit__(self, *exc):
        if self.active:
            self.proc.terminate()
            self.lines = self.proc.communicate()[0].splitlines()

    def summary(self) -> dict:
        values = np.array([[float(v) for v in line.split(",")] for line in self.lines if line.strip()])
        if not len(values):
            return {}
        util = values[:, 0]
        return {
            "gpu_util_median": float(np.median(util)),
            "gpu_util_mean": float(util.mean()),
            "gpu_memory_mb": float(values[:, 1].max()),
        }


def _device_name(device: str) -> str:
    import torch

    return torch.cuda.get_device_name() if device.startswith("cuda") else "cpu"


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
    steps = args.steps or None  # 0: the whole epoch
    settings = dict(batch_size=BATCH, lr=1e-3, weight_decay=1e-5, seed=0, device=torch.device(args.device))
    data = ((train.images, train.labels), (val.images[:BATCH], val.labels[:BATCH]), Normaliser(MEAN, STD, 255.0))
    if args.device.startswith("cuda"):  # CUDA context, cuDNN's algorithm choice, lazy kernels: not the epoch's cost
        fit(model, *data, epochs=1, max_steps=5, amp=args.amp, compile=args.compile, **settings)
    t0 = time.perf_counter()
    with GpuUtilisation(args.device) as util:
        fit(model, *data, epochs=1, max_steps=steps, amp=args.amp, compile=args.compile, **settings)
    seconds = time.perf_counter() - t0
    models.save_checkpoint(work / "model.pt", model.eval().cpu(), _info(model))
    n_train = len(train.labels) if steps is None else min(len(train.labels), steps * BATCH)
    suffix = ("" if args.amp == "off" else f"_{args.amp}") + ("_compiled" if args.compile else "")
    batches = "the whole epoch" if steps is None else f"{steps} training batches"
    return {
        "stage": f"train_epoch{suffix}",
        "n_images": n_train + min(len(val.labels), BATCH),
        "seconds": seconds,
        **util.summary(),
        "note": f"{batches} of {BATCH} + {BATCH} validation images; full split memory-mapped; amp {args.amp}"
        + ("; after a 5-step warm-up" if args.device.startswith("cuda") else "")
        + (", compiled" if args.compile else ""),
    }


def child_evaluate(work: Path, args) -> dict:
    from posthoc.stages import evaluate

    out = work / "evaluate"
    names = {
        "predictions": "predictions.npz",
        "per_class": "per_class.csv",
        "confusion_csv": "confusion.csv",
        "confusion_png": "confusion.png",
        "roc_png": "roc.png",
        "roc_auc": "roc_auc.csv",
        "report": "report.csv",
    }
    t0 = time.perf_counter()
    evaluate.run(
        dataset="pathmnist",
        meta=str(work / "prepared" / "meta.json"),
        checkpoint=str(work / "model.pt"),
        device=args.device,
        **{key: str(out / name) for key, name in names.items()},
    )
    return {
        "n_images": SPLITS_N(work)["test"],
        "seconds": time.perf_counter() - t0,
        "note": "whole test split, whole job (loading, figures)",
    }


def paper_method_params() -> tuple[dict[str, dict], int]:
    """Each method's settings as configs/paper.yaml gives them for PathMNIST (schema defaults filled in)."""
    import yaml

    from posthoc.config import validate_config

    config = yaml.safe_load((HERE.parent / "configs" / "paper.yaml").read_text())
    config["datasets"] = {"pathmnist": config["datasets"]["pathmnist"]}
    config["datasets"]["pathmnist"]["data"] = {"kind": "medmnist", "flag": "pathmnist", "size": SIZE}
    config = validate_config(config)
    params = {name: dict(p) for name, p in config["methods"].items()}
    own = config["datasets"]["pathmnist"]
    params["occlusion"].update({k: own["occlusion"][k] for k in ("window", "stride")})
    return params, own["explain"]["n_confusions"]


def child_explain(work: Path, args) -> list[dict]:
    from posthoc.stages import explain

    params, n_confusions = paper_method_params()
    rows = []
    for method in args.methods.split(","):
        t0 = time.perf_counter()
        res = explain.run(
            dataset="pathmnist",
            method=method,
            meta=str(work / "prepared" / "meta.json"),
            checkpoint=str(work / "model.pt"),
            predictions=str(work / "evaluate" / "predictions.npz"),
            maps=str(work / f"{method}.npz"),
            figure=str(work / f"{method}.png"),
            method_params=params[method],
            n_eval=args.n_eval,
            n_confusions=n_confusions,
            batch_size=128,
            seed=0,
            device=args.device,
        )
        shown = {k: v for k, v in params[method].items() if k not in ("target",)}
        rows.append(
            {
                "stage": f"explain_{method}",
                "n_images": res["n"],
                "seconds": time.perf_counter() - t0,
                "note": f"{method} {shown}, every explained layer, n_eval {args.n_eval} + examples; whole job",
            }
        )
    return rows


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
    device = torch.device(args.device)
    for _ in DeviceBatches(train.images, batches[:2], norm, device).host_batches():
        pass  # warm-up (and, with --cold, nothing else: the timed pass below still reads the file's pages)

    def host_pass(images) -> float:
        t0 = time.perf_counter()
        for _ in DeviceBatches(images, batches, norm, device).host_batches():
            pass  # the CPU's share of a GPU job: gather the uint8 rows in the background thread (pinned on CUDA)
        return time.perf_counter() - t0

    # Alternating rounds: positioned reads from the file (what a split opened by load_split gets) and,
    # for comparison, the gather through the memory mapping (what any view of the split gets).
    timed = {"file": [], "mapped": []}
    for _ in range(args.rounds):
        timed["file"].append(host_pass(train.images))
        timed["mapped"].append(host_pass(train.images[:]))
    where = f"; {args.threads} threads; the file in the page cache; median of {args.rounds} alternating rounds"
    rows = [
        {
            "stage": "input_path_host",
            "n_images": images,
            "seconds": float(np.median(timed["file"])),
            "note": f"uint8 rows of shuffled batches of {BATCH}, read from the file by the input thread"
            + (" into pinned memory" if device.type == "cuda" else "")
            + where,
        },
        {
            "stage": "input_path_host_mapped",
            "n_images": images,
            "seconds": float(np.median(timed["mapped"])),
            "note": "the same rows gathered through the memory mapping (page faults, pages released every "
            f"256 MiB){where}",
        },
    ]
    labels = torch.from_numpy(np.asarray(train.labels))
    t0 = time.perf_counter()
    for xb, _ in DeviceBatches(train.images, batches, norm, device, with_arrays=[labels]):
        pass
    if device.type == "cuda":
        torch.cuda.synchronize()
    rows.append(
        {
            "stage": f"input_path_{device.type}",
            "n_images": images,
            "seconds": time.perf_counter() - t0,
            "note": "device-ready float32 batches: gathered, "
            + (
                "pinned, copied without blocking, converted and normalised on the GPU (channels-last)"
                if device.type == "cuda"
                else "converted and normalised on the CPU (the CPU as the device)"
            ),
        }
    )
    return rows


def child_fwd_bwd(work: Path, args) -> list[dict]:
    import torch
    import torch.nn.functional as F

    from posthoc import models
    from posthoc.train import autocast

    device = torch.device(args.device)
    torch.manual_seed(0)
    model = models.AlexNet128(CHANNELS, CLASSES, width=1.0).train().to(device)
    x = torch.randn(BATCH, CHANNELS, SIZE, SIZE, device=device)
    if device.type == "cuda":
        model, x = model.to(memory_format=torch.channels_last), x.contiguous(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    y = torch.randint(0, CLASSES, (BATCH,), device=device)
    run = torch.compile(model) if args.compile else model

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def step():
        with autocast(device, args.amp):
            loss = F.cross_entropy(run(x), y)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()

    for _ in range(3 if device.type == "cuda" else 1):
        step()  # warm-up (cuDNN autotuning, compilation)
    sync()
    setting = f"amp {args.amp}" + (", compiled" if args.compile else "")
    suffix = ("" if args.amp == "off" else f"_{args.amp}") + ("_compiled" if args.compile else "")
    t0 = time.perf_counter()
    for _ in range(args.model_steps):
        step()
    sync()
    rows = [
        {
            "stage": f"alexnet128_fwd_bwd{suffix}",
            "n_images": args.model_steps * BATCH,
            "seconds": time.perf_counter() - t0,
            "note": f"full-width AlexNet-128, batch {BATCH}, forward+backward+Adam, {args.model_steps} steps, {setting}",
        }
    ]
    model.eval()
    with torch.inference_mode(), autocast(device, args.amp):
        run(x)
        sync()
        t0 = time.perf_counter()
        for _ in range(args.model_steps):
            run(x)
        sync()
    rows.append(
        {
            "stage": f"alexnet128_forward{suffix}",
            "n_images": args.model_steps * BATCH,
            "seconds": time.perf_counter() - t0,
            "note": f"the same model, inference only, batch {BATCH}, {setting}",
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
        "--rounds",
        str(args.rounds),
        "--device",
        args.device,
        "--amp",
        args.amp,
        "--methods",
        args.methods,
        *(["--compile"] if args.compile else []),
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
    p.add_argument("--steps", type=int, default=3, help="training batches of the measured epoch (0: all)")
    p.add_argument("--n-eval", type=int, default=200, help="evaluation images of the explanation job")
    p.add_argument("--model-steps", type=int, default=2)
    p.add_argument("--input-batches", type=int, default=60)
    p.add_argument("--rounds", type=int, default=3, help="alternating rounds of the input-path comparison")
    p.add_argument("--stages", default=",".join(CHILDREN))
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument(
        "--amp", default="off", choices=["off", "bf16", "fp16"], help="training / model-throughput precision"
    )
    p.add_argument("--compile", action="store_true", help="torch.compile the model (training, model throughput)")
    p.add_argument("--methods", default="gradcam", help="comma-separated methods of the explain stage")
    p.add_argument("--keep", action="store_true", help="keep the scratch folder")
    p.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        import torch

        torch.set_num_threads(args.threads)
        result = CHILDREN[args.child](Path(args.workdir), args)
        rows = result if isinstance(result, list) else [{"stage": args.child, **result}]
        rss = _peak_rss_mb()
        device = _device_name(args.device)
        print(json.dumps([{**r, "peak_rss_mb": round(rss, 1), "device": device} for r in rows]))
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
        stages = args.stages.split(",")
        if "prepare" not in stages and not (work / "prepared" / "meta.json").exists():
            stages = ["prepare", *stages]  # the other stages read the prepared split
        if "prepare" in stages:
            t0 = time.perf_counter()
            counts = write_npz(work / "pathmnist_128.npz", args.fraction)
            print(f"[scale] wrote {counts} in {time.perf_counter() - t0:.0f} s", flush=True)
        for stage in stages:
            rows += run_child(stage, work, args)
            write_rows(rows, args)  # after every stage: a later failure keeps what was measured
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


def write_rows(rows: list[dict], args) -> None:
    """Merge ``rows`` into ``--out`` (a row of the same stage, fraction, device and threads is replaced)."""
    import pandas as pd
    import torch

    table = pd.DataFrame(rows)
    if "note" not in table:
        table["note"] = ""
    table["note"] = table["note"].fillna("")
    table.insert(1, "fraction", args.fraction)
    table.insert(2, "threads", args.threads)
    table["images_per_s"] = (table["n_images"] / table["seconds"]).round(1)
    columns = ["stage", "fraction", "threads", "n_images", "peak_rss_mb", "seconds", "images_per_s", "device", "note"]
    table = table[columns + [c for c in ("gpu_util_median", "gpu_util_mean", "gpu_memory_mb") if c in table]]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        old = pd.read_csv(out)
        old["note"] = old["note"].fillna("")
        if "threads" not in old:
            old.insert(2, "threads", 2)  # rows written before the column existed were measured with 2
        key = ["stage", "fraction", "device", "threads"]
        same = old[key].apply(tuple, axis=1).isin(table[key].apply(tuple, axis=1))
        table = pd.concat([old[~same], table], ignore_index=True)
    table.to_csv(out, index=False)
    out.with_suffix(".json").write_text(
        json.dumps(
            {
                "measured": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                "python": platform.python_version(),
                "torch": torch.__version__,
                "cpu": platform.processor() or platform.machine(),
                "cores": os.cpu_count(),
                "threads": args.threads,
                "gpu": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
                "raw_train_gb": SPLITS["train"] * SIZE * SIZE * CHANNELS / 1e9,
            },
            indent=2,
        )
        + "\n"
    )
    print(table.to_string(index=False), flush=True)


if __name__ == "__main__":
    main()
