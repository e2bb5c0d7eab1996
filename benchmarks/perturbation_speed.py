"""Speed of the perturbation family against its references, every ratio measured in one process.

    python benchmarks/perturbation_speed.py --out perturbation_speed.csv [--repeats 3]

``rows(repeats)`` returns one dict per comparison with the columns of ``benchmarks/explain_speed.py``:
``model, method, ours_s, reference, reference_s, speedup, speedup_q25, speedup_q75, rounds`` (speedup: the
median over paired rounds of reference / ours, q25/q75 its interquartile range; one warm-up call each,
then ``repeats`` rounds, the order of the contenders alternating from round to round). Models, on the CPU, random weights
(speed does not depend on training): AlexNet-128 at width 0.5 on 128×128 RGB and the default study's
MNIST-1D CNN (4 × 32 channels, length 40), forward batches of 32 on both sides.

* ``occlusion`` vs ``inference``: the model's plain batched inference on the same number of forward
  samples (images × (positions + 1)); speedup = occlusion throughput / inference throughput (target ≥ 0.8).
* ``occlusion`` vs ``captum.attr.Occlusion``: same window, stride, baseline (0) and target, softmax
  outputs, ``perturbations_per_eval`` chosen so that Captum's forward batches match ours.
* ``lime`` vs ``lime.lime_image.LimeImageExplainer``: same superpixels (given through
  ``segmentation_fn``), ``num_samples``, ``hide_color`` = our fill (0 in normalised space), one
  label, default kernel width; a signal is given to ``lime`` as a 1×L grey image. Two rows: lime
  with our forward batch size (32), and lime with its own default ``batch_size`` (10), i.e. what a
  user switching from the package sees. Ours always runs batches of 32. lime's ``classifier_fn``
  hands the model lime's (N, H, W, C) images permuted to (N, C, H, W), which is the channels-last
  layout in memory, the layout ours uses too: the forward passes cost the same on both sides.
* ``lime`` vs ``inference``: plain batched inference of the ``n_samples`` forward samples LIME needs
  (goal ≥ 1/1.2).
* ``lime (excl. forward)``: ours and lime (batch 32) less the time spent in the model's forward
  passes, i.e. what each implementation adds around the model.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from posthoc.explain.base import fast_layout
from posthoc.explain.lime import contiguous_segments, display_images, explain_segments, quickshift_segments
from posthoc.explain.occlusion import occlusion, window_geometry, window_masks
from posthoc.models import AlexNet128, CNN1D

BATCH = 32
LIME_SAMPLES = 256
LIME_DEFAULT_BATCH = 10  # LimeImageExplainer.explain_instance's default batch_size


class Timed(torch.nn.Module):
    """Wraps a model and adds up the seconds spent in its forward passes."""

    def __init__(self, model):
        super().__init__()
        self.model, self.seconds = model, 0.0

    def forward(self, x):
        start = time.perf_counter()
        out = self.model(x)
        self.seconds += time.perf_counter() - start
        return out


def _setups():
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    img = torch.nn.functional.avg_pool2d(torch.randn(2, 3, 136, 136, generator=g), 9, stride=1) * 3  # smooth blobs
    alex = dict(name="alexnet128_w0.5", model=AlexNet128(3, 10, width=0.5).eval(), x=img, window=32, stride=10)
    sig = torch.randn(BATCH, 1, 40, generator=g)
    cnn = dict(name="mnist1d_cnn", model=CNN1D(1, 10, 40, channels=(32, 32, 32, 32)).eval(), x=sig, window=10, stride=3)
    return [alex, cnn]


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _rounds(contenders: dict, repeats: int) -> dict:
    """One warm-up call each, then ``repeats`` rounds, the order of the contenders alternating from round to
    round; the seconds of every round of each."""
    for fn in contenders.values():
        fn()
    times = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(repeats):
        for name in names if r % 2 == 0 else names[::-1]:
            times[name].append(_timed(contenders[name]))
    return times


def _spread(ours: list[float], reference: list[float]) -> dict:
    """Medians and the paired ratio reference/ours per round (median, interquartile range)."""
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


@torch.inference_mode()
def _inference(model, x, n_samples):
    x = fast_layout(x)  # the layout ours runs in (channels-last images): the stricter baseline
    for start in range(0, n_samples, BATCH):
        model(x[torch.arange(start, min(start + BATCH, n_samples)) % len(x)])


def occlusion_rows(setup, repeats):
    from captum.attr import Occlusion

    model, x, n = setup["model"], setup["x"], len(setup["x"])
    target = model(x).argmax(1).detach()
    wins, strides = window_geometry(x.shape[2:], setup["window"], setup["stride"])
    positions = int(np.prod([window_masks(L, w, s).shape[0] for L, w, s in zip(x.shape[2:], wins, strides)]))
    samples = n * (positions + 1)
    ours = lambda: occlusion(
        model,
        x,
        target,
        window=setup["window"],
        stride=setup["stride"],  # noqa: E731
        batch_size=BATCH,
    )
    captum = Occlusion(lambda z: torch.softmax(model(z), 1))
    ref = lambda: captum.attribute(
        x,
        sliding_window_shapes=(x.shape[1], *wins),
        strides=(x.shape[1], *strides),  # noqa: E731
        baselines=0.0,
        target=target,
        perturbations_per_eval=max(1, BATCH // n),
    )
    infer = lambda: _inference(model, x, samples)  # noqa: E731
    t = _rounds({"ours": ours, "captum": ref, "inference": infer}, repeats)
    method = f"occlusion ({n} inputs x {positions} windows)"
    return [
        dict(
            model=setup["name"],
            method=method,
            reference="inference (same forward samples; goal ≥ 1/1.2)",
            **_spread(t["ours"], t["inference"]),
        ),
        dict(model=setup["name"], method=method, reference="captum.attr.Occlusion", **_spread(t["ours"], t["captum"])),
    ]


def lime_rows(setup, repeats):
    from lime.lime_image import LimeImageExplainer

    timed = Timed(setup["model"])
    x = setup["x"][:1]
    target = int(timed.model(x).argmax(1))
    if x.ndim == 4:
        segments = quickshift_segments(display_images(x), kernel_size=4, max_dist=200, ratio=0.2)
        image = x[0].permute(1, 2, 0).double().numpy()  # normalised (H, W, C)
        to_model = lambda imgs: torch.from_numpy(imgs).permute(0, 3, 1, 2).float()  # channels-last, as ours  # noqa: E731
    else:
        segments = contiguous_segments(1, x.shape[2], 4)
        image = x[0].double().numpy()  # (1, L): a 1×L grey image
        to_model = lambda imgs: torch.from_numpy(np.ascontiguousarray(imgs[..., 0])).float()  # noqa: E731

    lime_segments = segments[0] if x.ndim == 4 else segments[0][None, :]

    @torch.inference_mode()
    def classifier(imgs):
        return torch.softmax(timed(to_model(imgs)), 1).numpy()

    ours = lambda: explain_segments(
        timed,
        x,
        torch.tensor([target]),
        segments,
        n_samples=LIME_SAMPLES,  # noqa: E731
        batch_size=BATCH,
    )
    explainer = LimeImageExplainer(random_state=0, verbose=False)

    def reference(batch_size):
        return lambda: explainer.explain_instance(
            image,
            classifier,
            labels=(target,),
            top_labels=None,
            hide_color=0.0,
            num_samples=LIME_SAMPLES,
            batch_size=batch_size,
            segmentation_fn=lambda _img: lime_segments,
        )

    infer = lambda: _inference(timed.model, x, LIME_SAMPLES)  # noqa: E731  (the forward samples LIME needs)
    silent = _silence_tqdm()
    runs = {"ours": [], "ref": [], "ref_default": [], "inference": []}  # (total, forward) seconds of every call

    def measured(name, fn):
        def run():
            timed.seconds = 0.0
            runs[name].append((_timed(fn), timed.seconds))

        return run

    try:
        _rounds(
            {
                "ours": measured("ours", ours),
                "ref": measured("ref", reference(BATCH)),
                "ref_default": measured("ref_default", reference(LIME_DEFAULT_BATCH)),
                "inference": measured("inference", infer),
            },
            repeats,
        )
    finally:
        silent()
    total = {name: [t for t, _ in v[1:]] for name, v in runs.items()}  # without the warm-up
    rest = {name: [t - f for t, f in v[1:]] for name, v in runs.items()}
    k = int(segments.max()) + 1
    ref = "lime.lime_image.LimeImageExplainer"
    method = f"lime ({LIME_SAMPLES} samples, {k} superpixels)"
    return [
        dict(
            model=setup["name"],
            method=method,
            reference=f"inference ({LIME_SAMPLES} forward samples; goal ≥ 1/1.2)",
            **_spread(total["ours"], total["inference"]),
        ),
        dict(
            model=setup["name"],
            method=method,
            reference=f"{ref} (batch_size {BATCH})",
            **_spread(total["ours"], total["ref"]),
        ),
        dict(
            model=setup["name"],
            method=method,
            reference=f"{ref} (its default batch_size {LIME_DEFAULT_BATCH})",
            **_spread(total["ours"], total["ref_default"]),
        ),
        dict(
            model=setup["name"],
            method="lime (excl. forward passes)",
            reference=f"{ref} (batch_size {BATCH})",
            **_spread(rest["ours"], rest["ref"]),
        ),
    ]


def _silence_tqdm():
    """lime shows a progress bar per explanation; silence it for the measurement."""
    import lime.lime_image as li

    original = li.tqdm
    li.tqdm = lambda it, *a, **k: it
    return lambda: setattr(li, "tqdm", original)


def rows(repeats: int = 5) -> list[dict]:
    out = []
    for setup in _setups():
        with torch.no_grad():
            out += occlusion_rows(setup, repeats)
        out += lime_rows(setup, repeats)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="CSV file to write")
    parser.add_argument("--repeats", type=int, default=5, help="paired timed rounds per comparison")
    parser.add_argument("--threads", type=int, default=2, help="torch.set_num_threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    frame = pd.DataFrame(
        rows(args.repeats),
        columns=[
            "model",
            "method",
            "ours_s",
            "reference",
            "reference_s",
            "speedup",
            "speedup_q25",
            "speedup_q75",
            "rounds",
        ],
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(args.out, index=False)
    print(frame.to_string(index=False))


if __name__ == "__main__":
    main()
