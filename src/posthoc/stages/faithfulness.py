"""Stage: drop rate and increase rate of one method's maps, per layer (seed 004 §III-C)."""
from __future__ import annotations

import numpy as np
import torch

from .. import io
from ..metrics import drop_increase
from ..models import load_checkpoint
from ..train import select_device


def run(checkpoint: str, explanations: str, method: str, keep_percent: float, fill: float, batch_size: int,
        out_csv: str, device: str = "auto"):
    model, _ = load_checkpoint(checkpoint)
    dev = select_device(device)
    model.to(dev)
    f = np.load(explanations)
    sel = f["subset"] == "evaluation"
    raw = torch.from_numpy(f["maps_raw"][sel]) if "maps_raw" in f.files else None
    table = drop_increase(model, torch.from_numpy(f["x"][sel]), torch.from_numpy(f["maps"][sel]),
                          torch.from_numpy(f["target"][sel]), keep_percent, fill=fill, raw=raw,
                          batch_size=batch_size, device=dev)
    table.insert(0, "method", method)
    table.insert(1, "layer", [str(f["layers"][i]) for i in table.pop("layer_index")])
    table.insert(2, "keep_percent", float(keep_percent))
    io.save_csv(out_csv, table)
    print(table.to_string(index=False))
    return table


def summary(tables: list[str], out_png: str):
    """One figure of drop and increase rates for every method and layer of a dataset."""
    import pandas as pd

    from ..plots.faithfulness import faithfulness_bars

    frame = pd.concat([pd.read_csv(t) for t in tables], ignore_index=True)
    io.save_figure(faithfulness_bars(frame), out_png)
    return frame
