"""Stage: the data-randomisation model (Adebayo et al. 2018) — the dataset's model trained the same way
(same architecture, settings and seed) on training labels permuted under the seed, written under
``results/{dataset}/data_randomisation/model/``. Maps that barely change on it do not depend on the
relation between images and labels the model was meant to learn.
"""

from __future__ import annotations

from . import train as train_stage


def run(
    *,
    dataset: str,
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
    """Train on training labels permuted with ``seed`` (validation and test labels stay true)."""
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
        seed=seed,
        device=device,
        resume=resume,
        shuffle_labels_seed=seed,
    )
