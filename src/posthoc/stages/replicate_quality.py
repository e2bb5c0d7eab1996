"""Stage: the map-quality scores of one replicate model (rule ``train_replicate``) of a dataset.

One job per (dataset, replicate) recomputes the maps of every method that explains the dataset's own
model on the replicate, for the same evaluation images and targets as the dataset's explanation files,
and scores them exactly as the map_quality stage does (:func:`posthoc.stages.map_quality.per_image_scores`).
It writes ``replicates/{replicate}/map_quality.npz``: for each method, the keys of ``map_quality/{method}.npz``
that the replicate table uses, prefixed ``<method>__`` (``p``, ``p_kept``, ``curve_*``, ``loc_*``, ``index``,
``target``, ``layers``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import io
from ..models import load_checkpoint
from ..train import select_device
from .map_quality import evaluation_rows, explain_params, per_image_scores, recompute_maps


def method_scores(
    *,
    checkpoint: str,
    explanations: list[str],
    meta: str,
    methods: list[str],
    method_params: dict,
    dataset: str,
    data_spec: dict,
    keep_percent: float,
    fill: float,
    topk_percent: float,
    curve_steps: int,
    curve_n_eval: int,
    batch_size: int,
    seed: int,
    device: str,
) -> dict[str, np.ndarray]:
    """{``<method>__<key>``: per-image scores} of every method's maps recomputed on ``checkpoint``."""
    if len(methods) != len(explanations):
        raise ValueError(f"{len(methods)} methods but {len(explanations)} explanation files")
    model, info = load_checkpoint(checkpoint)
    dev = select_device(device)
    model.to(dev).eval()
    out = {}
    for method, path in tqdm(list(zip(methods, explanations)), desc=f"{dataset} replicate scores", mininterval=5):
        rows = evaluation_rows(path)
        maps, raw = recompute_maps(
            method,
            model,
            rows["x"],
            rows["target"],
            info["layers"],
            explain_params(method_params[method], info),
            batch_size,
            dev,
        )
        scores = per_image_scores(
            model,
            rows["x"],
            maps,
            raw,
            rows["target"],
            rows["index"],
            data_dir=str(Path(meta).parent),
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
        scores.update(
            index=rows["index"], target=rows["target"], layers=np.array(rows["layers"])
        )  # the maps' own layers
        out.update({f"{method}__{k}": v for k, v in scores.items()})
    return out


def run(
    *,
    checkpoint: str,
    explanations: list[str],
    meta: str,
    methods: list[str],
    method_params: dict,
    dataset: str,
    replicate: str,
    data_spec: dict,
    keep_percent: float,
    fill: float,
    topk_percent: float,
    curve_steps: int,
    curve_n_eval: int,
    batch_size: int,
    seed: int,
    device: str,
    per_image: str,
) -> dict:
    """Score replicate ``replicate`` of ``dataset`` (its checkpoint) with every method in ``methods``."""
    out = method_scores(
        checkpoint=checkpoint,
        explanations=explanations,
        meta=meta,
        methods=methods,
        method_params=method_params,
        dataset=dataset,
        data_spec=data_spec,
        keep_percent=keep_percent,
        fill=fill,
        topk_percent=topk_percent,
        curve_steps=curve_steps,
        curve_n_eval=curve_n_eval,
        batch_size=batch_size,
        seed=seed,
        device=device,
    )
    io.save_npz(per_image, replicate=np.array(replicate), **out)
    print(f"{dataset} replicate {replicate}: scored {methods}")
    return out
