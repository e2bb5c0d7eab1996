"""Speed of the gradient-family explanations against Captum on identical work, in one process.

    python benchmarks/explain_speed.py --out benchmarks/results/explain_speed.csv [--repeats 7] [--threads 2]

One row per (model, method): ``model, method, ours_s, reference, reference_s, speedup`` with
speedup = reference_s / ours_s (above 1: ours is faster). Models, on the CPU: AlexNet-128 at width
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

Timing: torch.set_num_threads fixed (reported), one warm-up call each, then ``repeats`` rounds (more
for millisecond cases: about 2 s per side) alternating ours and the reference (so that load from
other processes hits both alike), median.
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

import pandas as pd
import torch
import torch.nn.functional as F
from captum.attr import Deconvolution, GuidedBackprop, GuidedGradCam, IntegratedGradients, LayerGradCam, Saliency
from torch import nn

from posthoc.explain import explain
from posthoc.explain.base import capture, fast_layout
from posthoc.models import AlexNet128, CNN1D, explainable_layers

BATCH = 32
IG_STEPS, IG_RULE = 16, "riemann_middle"  # the study's rule; 16 steps (the study uses 64) keep the run short
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
    yield "gradcam", ours("gradcam"), f"captum LayerGradCam × {len(layers)} layers", lambda: [
        up(LayerGradCam(model, model.get_submodule(n)).attribute(x, target=t, relu_attributions=True), size)
        for n in layers]
    yield "saliency", ours("saliency"), "captum Saliency", lambda: Saliency(model).attribute(x, target=t).amax(1)
    yield "guided_backprop", ours("guided_backprop"), "captum GuidedBackprop", lambda: GuidedBackprop(
        model).attribute(x, target=t).abs().amax(1)
    yield "guided_gradcam", ours("guided_gradcam"), f"captum GuidedGradCam × {len(layers)} layers", lambda: [
        GuidedGradCam(model, model.get_submodule(n)).attribute(
            x, target=t, interpolate_mode="bilinear" if len(size) == 2 else "linear").abs().amax(1) for n in layers]
    yield "deconvnet", ours("deconvnet"), f"captum Deconvolution × {len(layers)} layers", lambda: [
        Deconvolution(Projection(model, n)).attribute(x, target=0).abs().amax(1) for n in layers]
    yield "cam", ours("cam", m=gap), "captum LayerGradCam on the GAP model (equal maps)", lambda: up(
        LayerGradCam(gap, gap.features).attribute(x, target=t, relu_attributions=True), size)
    yield "integrated_gradients", ours("integrated_gradients", steps=IG_STEPS, step_rule=IG_RULE,
                                       internal_batch_size=None), \
        f"captum IntegratedGradients ({IG_STEPS} steps, {IG_RULE}, with convergence delta)", lambda: IntegratedGradients(
            model).attribute(x, target=t, n_steps=IG_STEPS, method=IG_RULE, return_convergence_delta=True)


def median_times(fns, repeats: int, min_seconds: float = 2.0) -> list[float]:
    """Median time of each callable over alternating rounds: at least ``repeats`` rounds, more for fast
    ones (until each side has run about ``min_seconds``, at most 200 rounds)."""
    warm = []
    for fn in fns:  # warm-up
        start = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - start)
    rounds = max(repeats, min(200, int(min_seconds / max(min(warm), 1e-4))))
    times = [[] for _ in fns]
    for _ in range(rounds):
        for fn, ts in zip(fns, times):
            start = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - start)
    return [statistics.median(ts) for ts in times]


def rows(repeats: int = 7) -> list[dict]:
    out = []
    for name, model, gap, shape in models():
        model.eval(), gap.eval()
        x, t = torch.randn(BATCH, *shape), torch.arange(BATCH) % 10
        for method, ours, ref_name, ref in cases(model, gap, x, t):
            ours_s, ref_s = median_times([ours, ref], repeats)
            out.append({"model": name, "method": method, "ours_s": ours_s, "reference": ref_name,
                        "reference_s": ref_s, "speedup": ref_s / ours_s})
            print(f"{name:18s} {method:22s} ours {ours_s:8.4f} s  {ref_name:60s} {ref_s:8.4f} s  ×{ref_s / ours_s:.2f}",
                  flush=True)
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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="CSV file to write (a .json with the setting goes beside it)")
    parser.add_argument("--repeats", type=int, default=7, help="timed rounds per comparison (median reported)")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    parser.add_argument("--no-extra", action="store_true", help="skip benchmarks/perturbation_speed.py")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", category=UserWarning)  # Captum's notes about hooks and requires_grad
    table = pd.DataFrame(rows(args.repeats) + ([] if args.no_extra else extra_rows(args.repeats)))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(out, index=False, float_format="%.6g")
    setting = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d"), "cpu": cpu_name(),
               "torch threads": args.threads, "batch": BATCH, "repeats": args.repeats, "torch": torch.__version__,
               "captum": importlib.metadata.version("captum")}
    out.with_suffix(".json").write_text(json.dumps(setting, indent=2) + "\n")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
