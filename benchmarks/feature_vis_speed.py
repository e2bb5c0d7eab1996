"""Speed of the feature family, every ratio measured in one process: alternating rounds, the median of
the per-round ratio ours / reference with its interquartile range.

    python benchmarks/feature_vis_speed.py --out benchmarks/results/feature_vis_speed.csv [--repeats 7]
        [--record-repeats 31] [--threads 2]

Models on the CPU with random weights (speed does not depend on training): the default study's
AlexNet-128 at width 0.25 on 64×64 RGB (blockdigits) and its MNIST-1D CNN (4 × 32 channels, length 40).

* ``channels batched`` vs ``channels loop``: every channel of one layer visualised in ONE batch
  against one call per channel, same settings (steps, blur, jitter, TV) and image size.
* vs ``lucent render_vis``: torch-lucent's ``render_vis`` per channel (pixel parameterisation at the
  same size, same number of steps, no transforms, Adam as lucent has it); timed on ``--lucent-channels``
  channels and scaled to the layer's channel count, in alternation with ours. torch-lucent is a test
  dependency (``pip install -e '.[test]'``, which brings kornia 0.4.1); without it these rows are skipped.
* ``activations`` vs ``inference``: the activations record (every explained layer's running top-k,
  per-class means, statistics) against the model's plain batched inference over the same test set
  (1,000 images, the default study's MNIST-1D test split; and 10,000 signals, where the once-per-run
  setup and output arrays are spread over more batches); and its work bound: inference with only the
  reductions every exact record must make (each explained layer's max and sum over positions per image
  and channel, as torch's vectorised reductions in hooks). A round of these takes a few milliseconds, so
  they run ``--record-repeats`` rounds.

glibc's heap thresholds are pinned first, as every stage does (:func:`posthoc.runtime.pin_allocator`):
with glibc's dynamic thresholds a process can fall into a state where each pass faults its activation
buffers in anew (~10,000 minor faults per pass of the 1-D CNN, inference 2.5x slower), depending on its
allocation history, and the ratios then compare page faults.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from posthoc.explain.base import capture
from posthoc.features.records import record
from posthoc.features.visualise import Settings, channel_objective, noise_start, visualise
from posthoc.models import AlexNet128, CNN1D, explainable_layers
from posthoc.runtime import pin_allocator

SETTINGS = Settings(steps=10, lr=0.2, normalise_grad=True, levels=1, blur_sigma=0.5, jitter=2, tv=0.05)


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def _alternate(contenders: dict, repeats: int) -> dict[str, list[float]]:
    """Seconds per round of each contender, run in alternation (one warm-up round first)."""
    for fn in contenders.values():  # warm-up
        fn()
    times = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, fn in contenders.items():
            times[name].append(_time(fn))
    return times


def _row(model: str, method: str, ours: list[float], reference: str, ref: list[float], scale: float = 1.0) -> dict:
    """Medians of both timings and of the per-round ratio ours / reference, with its interquartile range."""
    ratio = np.array(ours) / (np.array(ref) * scale)
    return dict(
        model=model,
        method=method,
        rounds=len(ours),
        ours_s=statistics.median(ours),
        reference=reference,
        reference_s=statistics.median(ref) * scale,
        ratio=float(np.median(ratio)),
        ratio_q25=float(np.quantile(ratio, 0.25)),
        ratio_q75=float(np.quantile(ratio, 0.75)),
        speedup=float(np.median(1 / ratio)),
    )


def _models():
    torch.manual_seed(0)
    return {
        "alexnet128 w0.25 64px": (AlexNet128(3, 10, width=0.25).eval(), (3, 64, 64), "features.3"),
        "cnn1d 4x32 L40": (CNN1D(1, 10, length=40, channels=(32, 32, 32, 32)).eval(), (1, 40), "features.4"),
    }


def channel_rows(repeats: int, lucent_channels: int) -> list[dict]:
    rows = []
    for name, (model, shape, layer) in _models().items():
        n = model.get_submodule(layer).out_channels
        start = noise_start(n, shape, None, None, seed=0)

        def batched():
            visualise(model, channel_objective([layer] * n, range(n)), start, SETTINGS, seed=0)

        def loop():
            for c in range(n):
                visualise(model, channel_objective([layer], [c]), start[c : c + 1], SETTINGS, seed=0)

        t = _alternate({"batched": batched, "loop": loop}, repeats)
        rows.append(
            _row(
                name,
                f"channels of {layer} ({n}) batched",
                t["batched"],
                "channels loop (ours, one call per channel)",
                t["loop"],
            )
        )
        render = _lucent()
        if render is not None and len(shape) == 3:
            k = min(lucent_channels, n)
            lname = layer.replace(".", "_")

            def lucent():
                for c in range(k):
                    render.render_vis(
                        model,
                        f"{lname}:{c}",
                        param_f=lambda: _lucent_param(shape),
                        transforms=[],
                        thresholds=(SETTINGS.steps,),
                        show_image=False,
                        progress=False,
                        preprocess=False,
                        fixed_image_size=shape[1],
                    )

            tl = _alternate({"batched": batched, "lucent": lucent}, repeats)
            rows.append(
                _row(
                    name,
                    f"channels of {layer} ({n}) batched",
                    tl["batched"],
                    f"torch-lucent render_vis per channel (timed on {k}, scaled to {n})",
                    tl["lucent"],
                    scale=n / k,
                )
            )
        elif render is None:
            print("torch-lucent not importable: lucent rows skipped", file=sys.stderr)
    return rows


def _lucent_param(shape):
    from lucent.optvis import param

    return param.pixel_image((1, *shape), sd=0.01)


def _lucent():
    try:
        from lucent.optvis import render
    except Exception as err:  # noqa: BLE001  not installed or incompatible
        print(f"torch-lucent unavailable: {err}", file=sys.stderr)
        return None
    return render


def activation_rows(repeats: int, n_test: int = 1000, batch: int = 256, only: str | None = None) -> list[dict]:
    rows = []
    for name, (model, shape, _) in _models().items():
        if only is not None and name != only:
            continue
        layers = explainable_layers(model)
        rng = np.random.default_rng(0)
        images = (
            rng.integers(
                0, 256, (n_test, *shape[1:], shape[0]) if len(shape) == 3 else (n_test, shape[1]), dtype=np.uint8
            )
            if len(shape) == 3
            else rng.normal(size=(n_test, shape[1])).astype(np.float32)
        )
        labels = rng.integers(0, 10, n_test)

        def prepare(s):
            x = torch.from_numpy(np.asarray(images[s], dtype=np.float32))
            return (x.permute(0, 3, 1, 2) / 255.0 if x.ndim == 4 else x[:, None]).contiguous()

        def stream():
            return ((prepare(slice(i, i + batch)), labels[i : i + batch]) for i in range(0, n_test, batch))

        @torch.no_grad()
        def inference():
            for x, _ in stream():
                model(x)

        def activations():
            record(model, layers, stream(), 10, 6)

        rectified = {name: isinstance(model.get_submodule(name), torch.nn.ReLU) for name in layers}

        @torch.no_grad()
        def reductions():
            with capture(model, layers, store=_Reductions(rectified)):
                for x, _ in stream():
                    model(x)

        t = _alternate({"activations": activations, "inference": inference, "bound": reductions}, repeats)
        what = f"({len(layers)} layers, {n_test} images, batch {batch})"
        rows.append(
            _row(name, f"activations record {what}", t["activations"], "one batched inference pass", t["inference"])
        )
        rows.append(
            _row(name, f"max and sum per layer only {what}", t["bound"], "one batched inference pass", t["inference"])
        )
    return rows


class _Reductions:
    """Hook store that only takes each output's max and sum over positions, as torch's vectorised reductions
    (a ReLU's max as an integer max over the float bits: non-negative floats order as their bits)."""

    def __init__(self, rectified: dict[str, bool]):
        self.rectified = rectified

    def __setitem__(self, name, out):
        flat = out.flatten(2)
        torch.sum(flat, -1, dtype=torch.float32)
        torch.amax(flat.view(torch.int32) if self.rectified[name] else flat, -1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="benchmarks/results/feature_vis_speed.csv")
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--record-repeats", type=int, default=31, help="rounds of the activations rows (a few ms each)")
    ap.add_argument("--lucent-channels", type=int, default=4)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pin_allocator()
    rows = (
        activation_rows(args.record_repeats)
        + activation_rows(args.record_repeats, n_test=10_000, only="cnn1d 4x32 L40")
        + channel_rows(args.repeats, args.lucent_channels)
    )
    table = pd.DataFrame(rows)
    table.insert(0, "threads", torch.get_num_threads())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
