"""Stage: can the maps be trusted? Per (dataset, method): localisation against ground-truth masks,
sanity checks under model randomisation, deletion/insertion curves and per-image drop/increase.

One job per (dataset, method) writes ``map_quality/{method}.npz`` with per-image scores (nothing is
averaged here, so the summary can bootstrap intervals and pair methods on the same images):

* ``index``, ``target``, ``layers``: the evaluation rows of the explanation file;
* ``p`` (N,), ``p_kept`` (N, L): target probability before / after keeping the top-k %;
* ``loc_<metric>`` (N, L): localisation scores, when the dataset has masks (``distractor_share`` where
  the distractor box is known: blockdigits);
* ``curve_<name>`` (n_curve, L, S+1) and ``curve_fractions``: deletion/insertion curves;
* ``cascade_labels`` / ``cascade_spearman`` / ``cascade_ssim`` (D, n_sanity, L) and the same for
  ``independent_*``: similarity of the maps of randomised models with the original maps;
  ``cascade_example`` (D + 1, L, *spatial): one image's maps, original first, then each depth;
* for integrated gradients with ``seed004_variant``: ``p_kept_seed004`` (N, 1), the same score for
  seed 004's variant (black baseline, right Riemann sum, sum of |·| over channels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .. import data as data_pkg, io
from ..explain import explain
from ..metrics.deletion import keep_top_scores, perturbation_curves
from ..metrics.localisation import localisation_scores
from ..metrics.randomisation import cascading_models, independent_models, spearman_rows, ssim_rows
from ..models import load_checkpoint
from ..train import select_device

#: seed 004's integrated gradients (tf-explain): black baseline, (1/M) Σ_{k=1..M}, sum of |·| over channels
SEED004_IG = {"baseline": "black", "step_rule": "riemann_right", "channel_reduction": "sum_abs"}


def explain_params(method_params: dict, info: dict) -> dict:
    """The explain stage's parameters of a method, without the row-selection keys, and the model's ``task``
    (which methods that score probabilities need, as in the explain stage)."""
    params = {k: v for k, v in dict(method_params).items() if k not in ("target", "n_eval")}
    params["task"] = info.get("task")
    if params.get("baseline") == "black":
        params.setdefault("black_level", [-m / s for m, s in zip(info["mean"], info["std"])])
    return params


def recompute_maps(
    method, model, x, target, layers, params, batch_size, dev
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A method's maps (and pre-ReLU maps, where it has them) of ``x`` on ``model``, in batches."""
    maps, raws = [], []
    for s in range(0, len(x), batch_size):
        att = explain(
            method, model, x[s : s + batch_size].to(dev), torch.as_tensor(target[s : s + batch_size]), layers, **params
        )
        maps.append(att.maps.detach().float().cpu())
        raws.append(att.raw.detach().float().cpu() if att.raw is not None else None)
    raw = torch.cat(raws) if raws and raws[0] is not None else None
    return torch.cat(maps), raw


def _maps(method, model, x, target, layers, params, batch_size, dev) -> torch.Tensor:
    return recompute_maps(method, model, x, target, layers, params, batch_size, dev)[0]


def evaluation_rows(explanations: str) -> dict:
    """The evaluation rows of an explanation file: ``x``, ``maps``, ``raw`` (or None), ``target``, ``index``, ``layers``."""
    f = np.load(explanations)
    sel = f["subset"] == "evaluation"
    return {
        "x": torch.from_numpy(f["x"][sel]),
        "maps": torch.from_numpy(f["maps"][sel]),
        "raw": torch.from_numpy(f["maps_raw"][sel]) if "maps_raw" in f.files else None,
        "target": f["target"][sel],
        "index": f["index"][sel],
        "layers": [str(v) for v in f["layers"]],
    }


def distractor_masks(dataset: str, data_spec: dict, seed: int, index: np.ndarray, images: np.ndarray):
    """Boolean (n, H, W) masks of the blockdigits distractor squares of test images ``index``, rebuilt from
    the dataset's seed (the stored masks hold the digit only); None for other kinds, or when the rebuilt
    images differ from the stored ones."""
    if data_spec.get("kind") != "blockdigits":
        return None
    from ..data import blockdigits

    params = data_pkg.resolve_spec(dataset, data_spec)
    test = blockdigits.generate(params, int(seed))["test"]
    if not np.array_equal(test["images"][index], images):
        print("distractor boxes not recovered: rebuilt test images differ from the stored ones; skipped")
        return None
    size = images.shape[1]
    yy, xx = np.mgrid[:size, :size]
    top, left, side = (test["distractor_box"][index][:, i, None, None] for i in range(3))
    return (yy >= top) & (yy < top + side) & (xx >= left) & (xx < left + side)


def similarities(original: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(n, L, *s) pairs → spearman (n, L) and SSIM (n, L; NaN for 1-D maps)."""
    n, n_layers = original.shape[:2]
    a, b = original.reshape(n * n_layers, -1), other.reshape(n * n_layers, -1)
    rho = spearman_rows(a, b).reshape(n, n_layers)
    if original.ndim == 4 and min(original.shape[2:]) >= 7:
        flat_a, flat_b = original.reshape(-1, *original.shape[2:]), other.reshape(-1, *original.shape[2:])
        ok = np.ptp(np.concatenate([flat_a.reshape(len(flat_a), -1), flat_b.reshape(len(flat_b), -1)], 1), 1) > 0
        ssim = np.full(len(flat_a), np.nan)
        if ok.any():
            ssim[ok] = ssim_rows(flat_a[ok], flat_b[ok])
        return rho, ssim.reshape(n, n_layers)
    return rho, np.full((n, n_layers), np.nan)


def per_image_scores(
    model,
    x: torch.Tensor,
    maps: torch.Tensor,
    raw: torch.Tensor | None,
    target: np.ndarray,
    index: np.ndarray,
    *,
    data_dir: str,
    dataset: str,
    data_spec: dict,
    keep_percent: float,
    fill: float,
    topk_percent: float,
    curve_steps: int,
    curve_n_eval: int,
    batch_size: int,
    seed: int,
    device,
    task: str | None = None,
) -> dict[str, np.ndarray]:
    """The per-image scores of maps on the model they explain: ``p``/``p_kept`` (drop/increase),
    ``loc_*`` where the dataset has masks, ``curve_*`` deletion/insertion curves (the keys of the
    per-image file; shared by the dataset's model and its replicates). Probabilities are those of the model's
    ``task`` (:mod:`posthoc.tasks`: a multi-label model's target label's sigmoid)."""
    out: dict[str, np.ndarray] = {}
    t = torch.as_tensor(target)
    # drop / increase per image (top keep_percent % kept)
    p, p_kept = keep_top_scores(
        model,
        x,
        maps,
        t,
        keep_percent=keep_percent,
        fill=fill,
        raw=raw,
        batch_size=batch_size,
        device=device,
        task=task,
    )
    out.update(p=p, p_kept=p_kept, keep_percent=np.float64(keep_percent))

    # localisation (datasets that ship masks)
    if data_pkg.read_meta(data_dir).get("has_masks") and maps.ndim == 4:
        test = data_pkg.load_split(data_dir, "test")
        masks = np.asarray(test.masks[index]).astype(bool)
        distractor = distractor_masks(dataset, data_spec, seed, index, np.asarray(test.images[index]))
        for key, value in localisation_scores(
            maps.numpy(), masks, topk_percent=topk_percent, distractor=distractor
        ).items():
            out[f"loc_{key}"] = value
        out["topk_percent"] = np.float64(topk_percent)

    # deletion / insertion curves on the first curve_n_eval evaluation images
    fractions = np.linspace(0, 1, curve_steps + 1)
    m = min(curve_n_eval, len(x))
    curves = perturbation_curves(
        model,
        x[:m],
        maps[:m],
        t[:m],
        fractions=fractions,
        fill=fill,
        raw=raw[:m] if raw is not None else None,
        batch_size=batch_size,
        device=device,
        task=task,
    )
    out.update({f"curve_{k}": v for k, v in curves.items()}, curve_fractions=fractions)
    return out


def run(
    *,
    checkpoint: str,
    explanations: str,
    meta: str,
    method: str,
    method_params: dict,
    dataset: str,
    data_spec: dict,
    keep_percent: float,
    fill: float,
    topk_percent: float,
    curve_steps: int,
    curve_n_eval: int,
    sanity_n: int,
    seed004_variant: bool,
    batch_size: int,
    seed: int,
    device: str,
    per_image: str,
) -> dict:
    """Per-image localisation, sanity (randomisation), deletion/insertion and drop scores of one method's maps;
    the test split is read through the folder of ``meta``."""
    data_dir = str(Path(meta).parent)
    torch.manual_seed(seed)
    model, info = load_checkpoint(checkpoint)
    dev = select_device(device)
    model.to(dev).eval()
    rows = evaluation_rows(explanations)
    x, maps, raw, target, index, layers = (rows[k] for k in ("x", "maps", "raw", "target", "index", "layers"))
    out = {"index": index, "target": target, "layers": np.array(layers), "method": np.array(method)}
    t = torch.as_tensor(target)

    out.update(
        per_image_scores(
            model,
            x,
            maps,
            raw,
            target,
            index,
            data_dir=data_dir,
            dataset=dataset,
            data_spec=data_spec,
            keep_percent=keep_percent,
            fill=fill,
            topk_percent=topk_percent,
            curve_steps=curve_steps,
            curve_n_eval=curve_n_eval,
            batch_size=batch_size,
            seed=seed,
            device=dev,
            task=info.get("task"),
        )
    )
    p, p_kept = out["p"], out["p_kept"]

    # sanity checks: cascading and independent randomisation on the first sanity_n images
    params = explain_params(method_params, info)
    s = min(sanity_n, len(x))
    orig = maps[:s].numpy()
    for kind, models in (("cascade", cascading_models(model, seed)), ("independent", independent_models(model, seed))):
        labels, rhos, ssims, example = [], [], [], [orig[0]]
        for label, rnd in tqdm(list(models), desc=f"{method} {kind} randomisation", mininterval=5):
            new = _maps(method, rnd.to(dev), x[:s], target[:s], info["layers"], params, batch_size, dev).numpy()
            rho, ssim = similarities(orig, new)
            labels.append(label)
            rhos.append(rho)
            ssims.append(ssim)
            example.append(new[0])
        out.update(
            {f"{kind}_labels": np.array(labels), f"{kind}_spearman": np.stack(rhos), f"{kind}_ssim": np.stack(ssims)}
        )
        if kind == "cascade":
            out["cascade_example"] = np.stack(example).astype(np.float32)
            out["cascade_example_x"] = x[0].numpy()

    if seed004_variant and method == "integrated_gradients":
        variant = {**params, **SEED004_IG}
        variant.setdefault("black_level", [-mu / sd for mu, sd in zip(info["mean"], info["std"])])
        vmaps = _maps(method, model, x, target, info["layers"], variant, batch_size, dev)
        _, kept = keep_top_scores(
            model,
            x,
            vmaps,
            t,
            keep_percent=keep_percent,
            fill=fill,
            raw=None,
            batch_size=batch_size,
            device=dev,
            task=info.get("task"),
        )
        out["p_kept_seed004"] = kept
    io.save_npz(per_image, **out)
    drop = np.clip(p[:, None] - p_kept, 0, None) / np.clip(p[:, None], 1e-12, None)
    print(
        f"{method}: {len(x)} images, layers {layers}; mean drop per layer {np.round(drop.mean(0), 4).tolist()}; "
        f"cascade spearman medians {[float(np.nanmedian(r[..., -1])) for r in out['cascade_spearman']]}"
    )
    return out
