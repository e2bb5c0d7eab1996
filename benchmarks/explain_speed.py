"""Speed of the gradient-family explanations against Captum on identical work, in one process.

    python benchmarks/explain_speed.py --out benchmarks/results/explain_speed.csv [--repeats 7] [--threads 2]

One row per (model, method): ``model, method, ours_s, reference, reference_s, speedup, speedup_q25,
speedup_q75, rounds``: speedup is the median over the paired rounds of reference / ours (above 1: ours is
faster), q25/q75 its interquartile range, so that a regression can be told from a noisy neighbour. Models, on the CPU: AlexNet-128 at width
0.5 on 128×128 RGB images and the default study's MNIST-1D CNN (4 × 32 channels, length 40), a batch
of 32 random inputs each, random weights (speed does not depend on training). Both sides produce the
same maps (the equality is what tests/test_explain_captum.py checks): every conv layer where the
method is layer-wise, the same channel reduction, the same integration steps.

The row ``plain_fwd_bwd`` times one plain forward pass plus the backward pass of the summed target
logits to the input (in the channels-last layout our methods use on the CPU, so the baseline is as
fast as ours can be); its reference is our Grad-CAM of all conv layers, so its ``speedup`` column is
Grad-CAM's time in units of one plain forward+backward (goal ≤ 1.1). Integrated gradients runs 16
steps on both sides (the study's rule, fewer steps than the study's 64: the ratio does not depend on
them).

Rows ``integrated_gradients (internal_batch_size k)`` time our integrated gradients at the internal
batch sizes a user would pick against the ``steps`` plain forward+backward passes of the batch it
needs at least (goal: speedup ≥ 1/1.2).

Timing: torch.set_num_threads fixed (reported), one warm-up call each, then ``repeats`` rounds (more
for millisecond cases: about 2 s per side), the order of ours and the reference alternating from
round to round (so that load from other processes hits both alike); medians and the paired ratio's IQR.
If ``benchmarks/perturbation_speed.py`` defines ``rows(repeats) -> list[dict]``, its rows are appended.
A ``.json`` beside the CSV records where and when it was measured (shown in the report's appendix).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import importlib.util
import json
import platform
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from captum.attr import Deconvolution, GuidedBackprop, GuidedGradCam, IntegratedGradients, LayerGradCam, Saliency
from torch import nn

from posthoc.explain import explain
from posthoc.explain.base import capture, fast_layout
from posthoc.models import AlexNet128, CNN1D, explainable_layers

BATCH = 32
IG_STEPS, IG_RULE = 16, "riemann_middle"
IG_INTERNAL = (
    4 * BATCH,
    IG_STEPS * BATCH,
)  # images per internal pass a user would pick: 4 steps, all steps  # the study's rule; 16 steps (the study uses 64) keep the run short
HERE = Path(__file__).resolve().parent


def models():
    torch.manual_seed(0)
    yield "alexnet128_w0.5", AlexNet128(3, 10, width=0.5), AlexNet128(3, 10, width=0.5, gap=True), (3, 128, 128)
    yield "mnist1d_cnn", CNN1D(1, 10, 40, channels=(32,) * 4), CNN1D(1, 10, 40, channels=(32,) * 4, gap=True), (1, 40)


class Projection(nn.Module):
    """⟨A_L, stop-gradient(F⁺)⟩: Captum's Deconvolution of it is DeconvNet's projection of layer L."""

    def __init__(self, model, layer):
        super().__init__()
        self.model, self.layer = model, layer

    def forward(self, x):
        with capture(self.model, [self.layer]) as acts:
            self.model(x)
        a = acts[self.layer]
        return (a * a.detach().clamp(min=0)).flatten(1).sum(1, keepdim=True)


def up(m: torch.Tensor, size) -> torch.Tensor:
    return F.interpolate(m, size=size, mode="bilinear" if len(size) == 2 else "linear")


def plain(model, x, t):
    x = fast_layout(x.detach()).requires_grad_(True)  # the layout our methods use: the stricter baseline
    return torch.autograd.grad(model(x).gather(1, t.view(-1, 1)).sum(), x)[0]


def cases(model, gap, x, t):
    """(method, ours, reference name, reference) — each a zero-argument callable."""
    layers, size = explainable_layers(model), tuple(x.shape[2:])

    def ours(method, m=model, **kw):
        return lambda: explain(method, m, x, t, layers, **kw)

    yield "plain_fwd_bwd", lambda: plain(model, x, t), "ours gradcam (all layers)", ours("gradcam")
    yield (
        "gradcam",
        ours("gradcam"),
        f"captum LayerGradCam × {len(layers)} layers",
        lambda: [
            up(LayerGradCam(model, model.get_submodule(n)).attribute(x, target=t, relu_attributions=True), size)
            for n in layers
        ],
    )
    yield "saliency", ours("saliency"), "captum Saliency", lambda: Saliency(model).attribute(x, target=t).amax(1)
    yield (
        "guided_backprop",
        ours("guided_backprop"),
        "captum GuidedBackprop",
        lambda: GuidedBackprop(model).attribute(x, target=t).abs().amax(1),
    )
    yield (
        "guided_gradcam",
        ours("guided_gradcam"),
        f"captum GuidedGradCam × {len(layers)} layers",
        lambda: [
            GuidedGradCam(model, model.get_submodule(n))
            .attribute(x, target=t, interpolate_mode="bilinear" if len(size) == 2 else "linear")
            .abs()
            .amax(1)
            for n in layers
        ],
    )
    yield (
        "deconvnet",
        ours("deconvnet"),
        f"captum Deconvolution × {len(layers)} layers",
        lambda: [Deconvolution(Projection(model, n)).attribute(x, target=0).abs().amax(1) for n in layers],
    )
    yield (
        "cam",
        ours("cam", m=gap),
        "captum LayerGradCam on the GAP model (equal maps)",
        lambda: up(LayerGradCam(gap, gap.features).attribute(x, target=t, relu_attributions=True), size),
    )
    yield (
        "integrated_gradients",
        ours("integrated_gradients", steps=IG_STEPS, step_rule=IG_RULE, internal_batch_size=None),
        f"captum IntegratedGradients ({IG_STEPS} steps, {IG_RULE}, with convergence delta)",
        lambda: IntegratedGradients(model).attribute(
            x, target=t, n_steps=IG_STEPS, method=IG_RULE, return_convergence_delta=True
        ),
    )


def paired_rounds(fns, repeats: int, min_seconds: float = 2.0) -> list[list[float]]:
    """Seconds of each callable in every round: one warm-up call each, then at least ``repeats`` rounds (more
    for fast ones, until each side has run about ``min_seconds``, at most 200), the order of the contenders
    alternating from round to round so that load from other processes hits both alike."""
    warm = []
    for fn in fns:
        start = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - start)
    rounds = max(repeats, min(200, int(min_seconds / max(min(warm), 1e-4))))
    times = [[] for _ in fns]
    for r in range(rounds):
        order = range(len(fns)) if r % 2 == 0 else reversed(range(len(fns)))
        for i in order:
            start = time.perf_counter()
            fns[i]()
            times[i].append(time.perf_counter() - start)
    return times


def spread(ours: list[float], reference: list[float]) -> dict:
    """Medians of both sides and the paired ratio reference/ours per round: median and interquartile range."""
    ratios = np.asarray(reference) / np.asarray(ours)
    q25, q50, q75 = np.quantile(ratios, [0.25, 0.5, 0.75])
    return {
        "ours_s": statistics.median(ours),
        "reference_s": statistics.median(reference),
        "speedup": q50,
        "speedup_q25": q25,
        "speedup_q75": q75,
        "rounds": len(ratios),
    }


def repeated(fn, times: int):
    def run():
        for _ in range(times):
            fn()

    return run


def rows(repeats: int = 7, only: frozenset | None = None) -> list[dict]:
    out = []
    for name, model, gap, shape in models():
        model.eval(), gap.eval()
        x, t = torch.randn(BATCH, *shape), torch.arange(BATCH) % 10
        for method, ours, ref_name, ref in cases(model, gap, x, t):
            if only and method not in only:
                continue
            row = {
                "model": name,
                "method": method,
                "reference": ref_name,
                **spread(*paired_rounds([ours, ref], repeats)),
            }
            out.append(row)
            print(
                f"{name:18s} {method:22s} ours {row['ours_s']:8.4f} s  {ref_name:60s} {row['reference_s']:8.4f} s  "
                f"×{row['speedup']:.2f} [{row['speedup_q25']:.2f}, {row['speedup_q75']:.2f}]",
                flush=True,
            )
        # integrated gradients at the settings a user picks, against the passes it needs
        for internal in IG_INTERNAL if not only or "integrated_gradients" in only else ():
            ig = lambda internal=internal: explain(
                "integrated_gradients",
                model,
                x,
                t,
                [],
                steps=IG_STEPS,  # noqa: E731
                step_rule=IG_RULE,
                internal_batch_size=internal,
            )
            passes = repeated(lambda: plain(model, x, t), IG_STEPS)
            row = {
                "model": name,
                "method": f"integrated_gradients (internal_batch_size {internal})",
                "reference": f"{IG_STEPS} × plain_fwd_bwd (the passes it needs; goal speedup ≥ 1/1.2 = 0.83)",
                **spread(*paired_rounds([ig, passes], repeats)),
            }
            out.append(row)
            print(
                f"{name:18s} IG internal {internal}: {row['ours_s']:.4f} s vs {IG_STEPS} passes "
                f"{row['reference_s']:.4f} s  ×{row['speedup']:.2f} [{row['speedup_q25']:.2f}, "
                f"{row['speedup_q75']:.2f}]",
                flush=True,
            )
    return out


def extra_rows(repeats: int) -> list[dict]:
    """Rows of benchmarks/perturbation_speed.py, when that module exists."""
    path = HERE / "perturbation_speed.py"
    if not path.exists():
        return []
    spec = importlib.util.spec_from_file_location("perturbation_speed", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.rows(repeats)) if hasattr(module, "rows") else []


def cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main(argv=None):
    global BATCH, IG_STEPS, IG_INTERNAL
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="CSV file to write (a .json with the setting goes beside it)")
    parser.add_argument("--repeats", type=int, default=7, help="paired timed rounds per comparison (at least)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--no-extra", action="store_true", help="skip benchmarks/perturbation_speed.py")
    parser.add_argument("--only", default="", help="comma-separated methods to measure (default: all)")
    parser.add_argument("--batch", type=int, default=BATCH, help="images per batch")
    parser.add_argument("--ig-steps", type=int, default=IG_STEPS, help="integration steps")
    args = parser.parse_args(argv)
    BATCH, IG_STEPS = args.batch, args.ig_steps
    IG_INTERNAL = (4 * BATCH, IG_STEPS * BATCH)  # a few steps per pass, and every step in one pass
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)  # Captum's notes about hooks and requires_grad
    only = frozenset(filter(None, args.only.split(","))) or None
    table = pd.DataFrame(rows(args.repeats, only) + ([] if args.no_extra else extra_rows(args.repeats)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6g")
    setting = {
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"),
        "cpu": cpu_name(),
        "torch threads": args.threads,
        "batch": BATCH,
        "ig steps": IG_STEPS,
        "repeats": args.repeats,
        "methods": args.only or "all",
        "torch": torch.__version__,
        "captum": importlib.metadata.version("captum"),
    }
    out.with_suffix(".json").write_text(json.dumps(setting, indent=2) + "\n")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
