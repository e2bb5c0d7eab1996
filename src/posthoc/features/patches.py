"""Maximally activating patches (seed 003): the top-k images of a channel, cropped to its receptive field.

The crop is the exact input interval the channel's argmax position sees (:mod:`.receptive`), so a
patch shows everything — and only what — could have produced the recorded value.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from .receptive import Field, crop


def top_patches(
    load_rows: Callable[[np.ndarray], np.ndarray],
    index: np.ndarray,
    position: np.ndarray,
    channels: np.ndarray,
    field: Field,
    k: int,
) -> np.ndarray:
    """Patches of the ``k`` best images of each of ``channels`` → (channels, k, C, *field.size).

    ``index`` (all channels × k') and ``position`` (all channels × k' × ndim) come from
    :func:`posthoc.features.records.record`; ``load_rows`` maps split rows to arrays (N, C, *spatial).
    All patches are gathered in one crop (rows = channels × k).
    """
    channels = np.asarray(channels, dtype=np.int64)
    k = min(k, index.shape[1])
    rows = index[channels, :k].reshape(-1)
    pos = position[channels, :k].reshape(len(rows), -1)
    unique, inverse = np.unique(rows, return_inverse=True)
    images = load_rows(unique)[inverse]
    out = crop(images, field, pos)
    return out.reshape(len(channels), k, *out.shape[1:])
