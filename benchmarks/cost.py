"""Cost of the paper study (configs/paper.yaml) from the measured per-image costs: a Markdown table.

    python benchmarks/cost.py [--scale benchmarks/results/scale.csv] [--speed benchmarks/results/explain_speed.csv]
                              [--gpu-scale benchmarks/results/scale_gpu.csv] [--gpu-fwd-bwd 10000] [--gpu-forward 30000]

Measured (``scale.csv``, full-width AlexNet-128 at batch 512 on this CPU): seconds per image of one
forward+backward+Adam step (F) and of one inference forward (f), and of the explain stage's Grad-CAM
job (all conv layers, per explained image). Every other stage is that cost times the passes it needs
(pass counts from the paper config; the measured ratios of ``explain_speed.csv`` say how close the
methods come to them). The GPU figures come from ``scale_gpu.csv`` where it exists (``scale.py --device
cuda``: a whole training epoch at full size in bf16 with the input path on 2 cores, fp32 inference, and
every explain job of the paper config timed whole, start-up and figure included); otherwise they are
the assumptions ``--gpu-*``. They give the critical path of a SLURM run with one GPU per job.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
#: PathMNIST, BloodMNIST, DermaMNIST (MedMNIST v2 split sizes, classes) and the paper config's epochs
DATASETS = {
    "pathmnist": (89_996, 10_004, 7_180, 9, 23),
    "bloodmnist": (11_959, 1_712, 3_421, 8, 65),
    "dermamnist": (7_007, 1_003, 2_005, 7, 64),
}
N_EVAL, IG_STEPS, LIME_IMAGES, LIME_SAMPLES = 1000, 64, 200, 1000
OCC_WINDOWS = 11 * 11  # window 32, stride 10 at 128 px
OCC_STUDY = 121 + 64 + 36 + 9 + 4  # the sweep's windows (32/10, 64/10, 80/10, 90/20) + originals
OCC_STUDY_IMAGES, ROBUST_IMAGES, ROBUST_LEVELS = 500, 1000, 15
GRADIENT_METHODS = ("gradcam", "saliency", "guided_backprop", "guided_gradcam", "deconvnet", "cam")
LAYERS = 5


def per_image_costs(scale: pd.DataFrame, ig_ratio: float) -> dict[str, tuple[float, str]]:
    F, f, measured_f = rates(scale)
    gradcam = gradcam_seconds(scale)
    return {
        "training (per image and epoch)": (F, "measured: forward+backward+Adam, batch 512"),
        "inference (evaluation, validation)": (
            f,
            "measured: forward, batch 512"
            if measured_f
            else "assumed: a third of forward+backward (not measured in this run)",
        ),
        "Grad-CAM job (per explained image)": (gradcam, "measured: explain stage, all 5 conv layers"),
        "saliency / guided backprop / CAM": (gradcam, "one forward+backward, as Grad-CAM"),
        "guided Grad-CAM": (2 * gradcam, "two backward passes"),
        "DeconvNet": (LAYERS * gradcam, "one projection per conv layer"),
        "integrated gradients (64 steps)": (
            IG_STEPS * F * ig_ratio,
            f"64 × forward+backward × measured ratio {ig_ratio:.2f}",
        ),
        "faithfulness (per method)": ((LAYERS + 1) * f, "a forward per layer's masked input + the original"),
        "occlusion (window 32, stride 10)": ((OCC_WINDOWS + 1) * f, "122 forwards"),
        "occlusion study (4 settings)": (OCC_STUDY * f, "234 forwards"),
        "LIME (1000 samples)": (LIME_SAMPLES * f, "1000 forwards"),
        "robustness (15 levels)": (ROBUST_LEVELS * F, "a Grad-CAM forward+backward per level"),
    }


def gradcam_seconds(scale: pd.DataFrame) -> float:
    """Seconds per explained image of the Grad-CAM explain job (rows named ``explain`` before there was one
    row per method)."""
    rate = scale.set_index("stage")["images_per_s"]
    return 1 / rate.get("explain_gradcam", rate.get("explain"))


def rates(scale: pd.DataFrame) -> tuple[float, float, bool]:
    """Seconds per image of forward+backward and of forward (a third of it where not measured)."""
    rate = scale.set_index("stage")["images_per_s"]
    F = 1 / rate["alexnet128_fwd_bwd"]
    if "alexnet128_forward" in rate:
        return F, 1 / rate["alexnet128_forward"], True
    return F, F / 3, False


def study(F: float, f: float, gradcam: float, ig: float) -> dict:
    """Seconds per job of every dataset at per-image costs F (fwd+bwd), f (forward), Grad-CAM, IG."""
    jobs = {}
    for name, (n_train, n_val, n_test, classes, epochs) in DATASETS.items():
        rows = N_EVAL + 2 * classes + 8
        training = epochs * (n_train * F + n_val * f) + (n_train + n_val + n_test) * f
        jobs[name] = {
            "train": training,
            "train_gap": training,
            "evaluate": n_test * f,
            **{m: rows * gradcam * {"guided_gradcam": 2, "deconvnet": LAYERS}.get(m, 1) for m in GRADIENT_METHODS},
            "integrated_gradients": rows * ig,
            "occlusion": rows * (OCC_WINDOWS + 1) * f,
            "lime": LIME_IMAGES * LIME_SAMPLES * f,
            "faithfulness": (len(GRADIENT_METHODS) + 3) * rows * (LAYERS + 1) * f,
            "occlusion_study": OCC_STUDY_IMAGES * OCC_STUDY * f,
            "robustness": ROBUST_IMAGES * ROBUST_LEVELS * F,
        }
    return jobs


EXPLAIN_JOBS = ("gradcam", "saliency", "guided_backprop", "guided_gradcam", "deconvnet", "integrated_gradients")


def gpu_study(gpu: pd.DataFrame) -> tuple[dict, str]:
    """Seconds per job on the measured GPU: explain jobs as timed whole (per explained image, times the
    paper's rows), training at the measured epoch throughput, everything else its passes at the
    measured rates plus the smallest whole-job time measured (start-up, loading and figures dominate there)."""
    rate = gpu.sort_values("threads").drop_duplicates("stage", keep="first").set_index("stage")
    per_image = 1 / rate["images_per_s"]
    F, f = per_image["train_epoch_bf16"], per_image["alexnet128_forward"]
    floor = min(rate.loc[f"explain_{m}", "seconds"] for m in EXPLAIN_JOBS)
    jobs = study(F, f, per_image["explain_gradcam"], per_image["explain_integrated_gradients"])
    for name, (_, _, _, classes, _) in DATASETS.items():
        rows = N_EVAL + 2 * classes + 8
        job = jobs[name]
        for m in EXPLAIN_JOBS:
            job[m] = rows * per_image[f"explain_{m}"]
        job["cam"] = job["gradcam"]
        job["occlusion"] = rows * per_image["explain_occlusion"]
        job["lime"] = (LIME_IMAGES + 2 * classes + 8) * per_image["explain_lime"]
        for k in ("evaluate", "faithfulness", "occlusion_study", "robustness"):
            job[k] += floor
    how = (
        f"measured on {rate['device'].iloc[0]}: a training epoch at {1 / F:,.0f} img/s (bf16, input path on 2 cores), "
        f"inference {1 / f:,.0f} img/s (fp32), every explain job timed whole ({floor:.0f}–"
        f"{max(rate.loc[f'explain_{m}', 'seconds'] for m in (*EXPLAIN_JOBS, 'occlusion', 'lime')):.0f} s)"
    )
    return jobs, how


def critical_path(job: dict) -> float:
    """data/EDA aside: train → evaluate → the slowest explanation job → its faithfulness share."""
    explain = max(
        job[k]
        for k in (*GRADIENT_METHODS, "integrated_gradients", "occlusion", "lime", "occlusion_study", "robustness")
    )
    return max(job["train"], job["train_gap"]) + job["evaluate"] + explain + job["faithfulness"] / 9


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--scale", default=str(HERE / "results" / "scale.csv"))
    p.add_argument("--speed", default=str(HERE / "results" / "explain_speed.csv"))
    p.add_argument("--gpu-scale", default=str(HERE / "results" / "scale_gpu.csv"), help="measured GPU rows")
    p.add_argument("--gpu-fwd-bwd", type=float, default=10_000, help="assumed GPU images/s, forward+backward")
    p.add_argument("--gpu-forward", type=float, default=30_000, help="assumed GPU images/s, forward")
    args = p.parse_args(argv)
    scale = pd.read_csv(args.scale)
    scale = scale.sort_values("fraction").drop_duplicates("stage", keep="last")  # the largest fraction measured
    speed = pd.read_csv(args.speed) if Path(args.speed).exists() else pd.DataFrame()
    ig = speed[speed["method"].str.startswith("integrated_gradients (internal")] if len(speed) else speed
    ig = ig[ig["model"].str.startswith("alexnet")] if len(ig) else ig
    ig_ratio = float((1 / ig["speedup"]).max()) if len(ig) else 1.0  # the costlier setting
    costs = per_image_costs(scale, ig_ratio)
    print("| stage | CPU s / image | how |\n|---|---:|---|")
    for stage, (sec, how) in costs.items():
        print(f"| {stage} | {sec:.3g} | {how} |")
    F, f, _ = rates(scale)
    gc = gradcam_seconds(scale)
    cpu = study(F, f, gc, IG_STEPS * F * ig_ratio)
    total = sum(sum(j.values()) for j in cpu.values()) / 3600
    train = sum(j["train"] + j["train_gap"] for j in cpu.values()) / 3600
    print(f"\nCPU (this machine, 2 threads): {total:,.0f} CPU hours in all, of which training {train:,.0f}.")
    if Path(args.gpu_scale).exists():
        gpu, how = gpu_study(pd.read_csv(args.gpu_scale))
    else:
        gF, gf = 1 / args.gpu_fwd_bwd, 1 / args.gpu_forward
        gpu = study(gF, gf, 2 * gF, IG_STEPS * gF * ig_ratio)
        how = f"assumed {args.gpu_fwd_bwd:,.0f} img/s fwd+bwd, {args.gpu_forward:,.0f} img/s forward"
    paths = {name: critical_path(job) / 60 for name, job in gpu.items()}
    gpu_total = sum(sum(j.values()) for j in gpu.values()) / 3600
    print(
        f"GPU ({how}): {gpu_total:.2f} GPU hours in all; critical path "
        + ", ".join(f"{k} {v:.1f} min" for k, v in paths.items())
        + f" → {max(paths.values()):.1f} min"
    )


if __name__ == "__main__":
    main()
