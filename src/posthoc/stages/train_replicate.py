"""Stage: one replicate of a dataset's model — the training stage with seed ``seed`` + ``replicate``.

Replicate 0 is the dataset's own model (rule ``train``); replicates 1 .. ``replicates`` − 1 are written
under ``results/{dataset}/replicates/{replicate}/model/`` with the same layout (checkpoint, history,
scores, training curves), so their spread over seeds can be reported next to every map-quality metric.
"""

from __future__ import annotations

from ..errors import UserError
from . import train as train_stage


def run(
    *,
    dataset: str,
    replicate: str,
    meta: str,
    stats: str,
    checkpoint: str,
    history: str,
    scores: str,
    curves: str,
    model: dict,
    train: dict,
    seed: int,
    device: str,
    resume: str | None,
) -> dict:
    """Train replicate ``replicate`` (≥ 1) with seed ``seed`` + ``replicate`` and otherwise the dataset's settings."""
    if int(replicate) < 1:
        raise UserError(f"replicate {replicate} of {dataset}: replicate 0 is the dataset's model (rule train)")
    if model.get("checkpoint"):
        raise UserError(
            f"datasets.{dataset}.model.checkpoint is an existing model, which has no training seed to vary; "
            "set replicates: 1 to study it"
        )
    return train_stage.train_and_save(
        dataset=dataset,
        meta=meta,
        stats=stats,
        checkpoint=checkpoint,
        history=history,
        scores=scores,
        curves=curves,
        model=model,
        train=train,
        seed=seed + int(replicate),
        device=device,
        resume=resume,
        shuffle_labels_seed=None,
    )
