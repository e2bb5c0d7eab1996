"""Speed of the map-quality metrics against Quantus on identical work, every ratio measured in one process.

    python benchmarks/quality_speed.py --out quality_speed.csv [--repeats 5]

Columns: ``metric, work, ours_s, reference, reference_s, speedup, pass_bound_s, ours_over_bound,
reference_over_bound, note`` (speedup = reference_s / ours_s; one warm-up call each, then ``repeats``
rounds alternating the contenders, median of the rounds). Work, on the CPU:

* localisation (pointing game, relevance mass, rank accuracy, top-k): 200 maps of 64×64 with masks,
  Quantus called on the same maps and masks (``normalise=False``; ``model=None``);
* ``spearman`` / ``ssim``: 200 map pairs of 64×64, Quantus' ``correlation_spearman`` / ``ssim``
  similarity functions (how its MPRT scores every pair);
* ``deletion`` (MoRF curve): 50 single-channel 64×64 inputs, AlexNet-128 width 0.25 with random weights,
  16 steps; Quantus ``PixelFlipping`` with ``features_in_step`` = 64·64/16, same baseline value and model.
  Any implementation has to run the model on the 50 × 16 perturbed inputs (ours runs 50 × 15 of them,
  the 50 unperturbed images and one all-fill input, which every image shares); ``pass_bound_s`` is the time
  of those 800 forward passes alone (best batching: chunks of ``batch_size``, channels-last, inference
  mode), timed in the same alternating rounds, so ``ours_over_bound`` / ``reference_over_bound`` say how
  much each side spends beyond the passes the work cannot avoid.

``spearman`` and ``ssim`` get a bound of the same kind: the time of the work any exact implementation
must do (sorting both maps of every pair; the windowed sums of SSIM's four local moments), so the CSV
says how far the reference is from that floor and hence what speed-up is attainable at all.

The machine may be shared: ratios within one process are what to read, not absolute seconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from scipy.ndimage import uniform_filter1d

from posthoc.metrics import localisation as loc
from posthoc.metrics.deletion import perturbation_curves
from posthoc.metrics.randomisation import spearman_rows, ssim_rows
from posthoc.models import AlexNet128


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def compare(metric: str, work: str, ours, reference, name: str, repeats: int, bound=None) -> dict:
    """Median seconds of ``repeats`` alternating rounds (ours, reference[, bound]) after one warm-up each."""
    contenders = [ours, reference] + ([bound] if bound else [])
    for fn in contenders:
        fn()
    times = [[] for _ in contenders]
    for _ in range(repeats):
        for fn, t in zip(contenders, times):
            t.append(_time(fn))
    o, r = statistics.median(times[0]), statistics.median(times[1])
    row = {"metric": metric, "work": work, "ours_s": o, "reference": name, "reference_s": r, "speedup": r / o}
    if bound:
        b = statistics.median(times[2])
        row.update(pass_bound_s=b, ours_over_bound=o / b, reference_over_bound=r / b)
    return row


def pass_bound(model, x, a, t, counts, batch_size: int):
    """The forward passes of the deletion work alone: every image at every step with at least one position
    removed, built beforehand, run in chunks of ``batch_size`` (channels-last, inference mode)."""
    from posthoc.explain.base import fast_layout
    from posthoc.metrics.deletion import position_ranks

    rank = position_ranks(a.flatten(0, 1)).view(len(x), 1, -1)
    k = torch.as_tensor(counts[counts > 0]).view(1, -1, 1)
    inputs = torch.where((rank >= k).view(len(x), -1, *x.shape[1:]), x[:, None], 0.0).flatten(0, 1)
    targets = t.repeat_interleave(k.shape[1])

    def run():
        with torch.inference_mode():
            for s in range(0, len(inputs), batch_size):
                logits = model(fast_layout(inputs[s : s + batch_size]))
                torch.softmax(logits.double(), 1).gather(1, targets[s : s + batch_size, None])

    return run, len(inputs)


def rows(repeats: int = 5) -> list[dict]:
    import quantus

    rng = np.random.default_rng(0)
    n, size = 200, 64
    maps = rng.random((n, 1, size, size)).astype(np.float32)
    masks = np.zeros((n, size, size), bool)
    for i in range(n):
        y, x, s = rng.integers(0, 32, 3)
        masks[i, y : y + s + 8, x : x + s + 8] = True
    xb = rng.random((n, 3, size, size)).astype(np.float32)
    yb = np.zeros(n, int)
    s_b = masks[:, None].astype(np.float32)
    out = []
    q = dict(normalise=False, disable_warnings=True)
    work = f"{n} maps {size}x{size}"
    for metric, ours, ref in (
        ("pointing_game", lambda: loc.pointing_game(maps, masks), quantus.PointingGame(**q)),
        ("relevance_mass", lambda: loc.relevance_mass(maps, masks), quantus.RelevanceMassAccuracy(**q)),
        ("rank_accuracy", lambda: loc.rank_accuracy(maps, masks), quantus.RelevanceRankAccuracy(**q)),
        ("topk_intersection", lambda: loc.topk_intersection(maps, masks, 410), quantus.TopKIntersection(k=410, **q)),
    ):
        out.append(
            compare(
                metric,
                work,
                ours,
                lambda ref=ref: ref(model=None, x_batch=xb, y_batch=yb, a_batch=maps, s_batch=s_b),
                f"quantus {quantus.__version__}",
                repeats,
            )
        )
    other = maps + 0.3 * rng.random(maps.shape).astype(np.float32)
    flat_a, flat_b = maps.reshape(n, -1), other.reshape(n, -1)
    out.append(
        compare(
            "spearman",
            f"{n} map pairs {size}x{size}",
            lambda: spearman_rows(flat_a, flat_b),
            lambda: [quantus.similarity_func.correlation_spearman(a.ravel(), b.ravel()) for a, b in zip(maps, other)],
            "quantus correlation_spearman",
            repeats,
            bound=lambda: (np.sort(flat_a, axis=1), np.sort(flat_b, axis=1)),
        )
    )
    out[-1]["note"] = bound_note(out[-1], "sorting both maps of every pair (the order any exact rank needs)")
    x2, y2 = maps[:, 0], other[:, 0]
    out.append(
        compare(
            "ssim",
            f"{n} map pairs {size}x{size}",
            lambda: ssim_rows(x2, y2),
            lambda: quantus.similarity_func.ssim(x2, y2, batched=True),
            "quantus ssim (scikit-image)",
            repeats,
            bound=lambda: uniform_filter1d(
                uniform_filter1d(np.stack([x2, y2, x2 * x2 + y2 * y2, x2 * y2]), 7, axis=-1), 7, axis=-2
            ),
        )
    )
    out[-1]["note"] = bound_note(
        out[-1], "the 7x7 uniform filtering of the four local moments (the windowed sums any exact SSIM needs)"
    )
    torch.manual_seed(0)
    model = AlexNet128(1, 10, width=0.25).eval()
    m, steps = 50, 16
    x = torch.randn(m, 1, size, size)
    a = torch.rand(m, 1, size, size)
    t = torch.zeros(m, dtype=torch.long)
    fr = np.linspace(0, 1, steps + 1)
    bound, n_passes = pass_bound(model, x, a, t, np.round(fr * size * size).astype(int), 256)
    pf = quantus.PixelFlipping(
        features_in_step=size * size // steps, perturb_baseline=0.0, normalise=False, abs=False, disable_warnings=True
    )
    out.append(
        compare(
            "deletion (MoRF curve)",
            f"{m} inputs 1x{size}x{size}, {steps} steps, AlexNet-128 w0.25",
            lambda: perturbation_curves(model, x, a, t, fractions=fr, fill=0.0, curves=("deletion",), batch_size=256),
            lambda: pf(
                model=model,
                x_batch=x.numpy(),
                y_batch=t.numpy(),
                a_batch=a.numpy(),
                softmax=True,
                device="cpu",
                batch_size=m,
            ),
            "quantus PixelFlipping",
            repeats,
            bound=bound,
        )
    )
    out[-1]["note"] = bound_note(out[-1], f"the {n_passes} forward passes both sides must run")
    return out


def bound_note(row: dict, what: str) -> str:
    """What the bound is and what it implies for the attainable speed-up over the reference."""
    ceiling = row["reference_over_bound"]
    return (
        f"bound = {what}, {row['pass_bound_s']:.3f} s alone; ours = {row['ours_over_bound']:.2f}x that bound, "
        f"the reference {ceiling:.2f}x, so no implementation can be more than {ceiling:.2f}x faster than the "
        "reference on this work" + ("; 5x is physically impossible here" if ceiling < 5 else "")
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="quality_speed.csv")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    frame = pd.DataFrame(rows(args.repeats))
    path = Path(__file__).parent / "results" / args.out
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    print(frame.to_string(index=False))


if __name__ == "__main__":
    main()
