"""Stage: drop rate and increase rate of one method's maps, per layer (seed 004 §III-C)."""

from __future__ import annotations

import numpy as np
import torch

from .. import io
from ..metrics import drop_increase
from ..models import load_checkpoint
from ..train import select_device


def run(
    *,
    dataset: str,
    method: str,
    checkpoint: str,
    maps: str,
    table: str,
    keep_percent: float,
    fill: float,
    batch_size: int,
    device: str,
):
    """Drop and increase rates of the evaluation rows of ``maps`` (one method's explanations) → CSV ``table``."""
    explanations, out_csv = maps, table
    model, info = load_checkpoint(checkpoint)
    dev = select_device(device)
    model.to(dev)
    f = np.load(explanations)
    sel = f["subset"] == "evaluation"
    raw = torch.from_numpy(f["maps_raw"][sel]) if "maps_raw" in f.files else None
    table = drop_increase(
        model,
        torch.from_numpy(f["x"][sel]),
        torch.from_numpy(f["maps"][sel]),
        torch.from_numpy(f["target"][sel]),
        keep_percent,
        fill=fill,
        raw=raw,
        batch_size=batch_size,
        device=dev,
        task=info.get("task"),
    )
    table.insert(0, "method", method)
    table.insert(1, "layer", [str(f["layers"][i]) for i in table.pop("layer_index")])
    table.insert(2, "keep_percent", float(keep_percent))
    io.save_csv(out_csv, table)
    print(table.to_string(index=False))
    return table
