"""Stage: the data randomisation test (Adebayo et al. 2018) of one dataset.

Every method that explains the dataset's own model is recomputed, on the first ``sanity_n`` evaluation
images and with the same targets, on the model trained on permuted training labels (rule
``train_shuffled``), and compared with its original maps: Spearman ρ and SSIM per image and layer, as the
model-randomisation checks of the map_quality stage (:func:`posthoc.stages.map_quality.similarities`).
Writes ``data_randomisation/similarity.npz``: ``<method>__spearman`` and ``<method>__ssim`` (n, L),
``<method>__layers``, ``<method>__index``; the summary turns them into ``test = data`` rows of
``sanity.csv`` and the ``data_*`` columns of ``sanity_flags.csv``.
"""

from __future__ import annotations

import numpy as np
from tqdm import tqdm

from .. import io
from ..models import load_checkpoint
from ..train import select_device
from .map_quality import evaluation_rows, explain_params, recompute_maps, similarities


def run(
    *,
    checkpoint: str,
    explanations: list[str],
    methods: list[str],
    method_params: dict,
    dataset: str,
    sanity_n: int,
    batch_size: int,
    device: str,
    similarity: str,
) -> dict:
    """Spearman/SSIM of each method's maps on the shuffled-label model (``checkpoint``) with its original maps."""
    if len(methods) != len(explanations):
        raise ValueError(f"{len(methods)} methods but {len(explanations)} explanation files")
    model, info = load_checkpoint(checkpoint)
    dev = select_device(device)
    model.to(dev).eval()
    out = {}
    for method, path in tqdm(list(zip(methods, explanations)), desc=f"{dataset} data randomisation", mininterval=5):
        rows = evaluation_rows(path)
        s = min(sanity_n, len(rows["x"]))
        params = explain_params(method_params[method], info)
        new, _ = recompute_maps(
            method, model, rows["x"][:s], rows["target"][:s], info["layers"], params, batch_size, dev
        )
        rho, ssim = similarities(rows["maps"][:s].numpy(), new.numpy())
        out.update(
            {
                f"{method}__spearman": rho,
                f"{method}__ssim": ssim,
                f"{method}__layers": np.array(rows["layers"]),
                f"{method}__index": rows["index"][:s],
            }
        )
        print(f"{method}: median Spearman with the original maps per layer {np.nanmedian(rho, 0).round(3).tolist()}")
    io.save_npz(similarity, methods=np.array(methods), **out)
    return out
