"""Stage: one figure of every method's drop and increase rates for one dataset."""

from __future__ import annotations

import pandas as pd

from .. import io
from ..plots.faithfulness import faithfulness_bars


def run(*, dataset: str, tables: list[str], summary: str) -> pd.DataFrame:
    """Draw the faithfulness ``tables`` (one CSV per method) into the figure ``summary``."""
    frame = pd.concat([pd.read_csv(t) for t in tables], ignore_index=True)
    io.save_figure(faithfulness_bars(frame), summary)
    return frame
