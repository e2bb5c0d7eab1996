"""Atomic file output: nothing half-written is ever left under a final name.

Every writer creates a temporary file next to the target (same directory, so the final
``os.replace`` is atomic on POSIX) and renames it only once the content is complete.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np


_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` if the block succeeds.

    The temporary name keeps the target's suffix (some writers, e.g. matplotlib and
    ``np.save``, choose a format or append a suffix from it).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".partial{path.suffix}", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp creates 0600; final files get the usual permissions
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def save_npy(path, array: np.ndarray) -> None:
    """``np.save`` atomically; a memory-mapped array is copied in chunks (resident memory stays flat)."""
    from .mapped import write_npy

    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            write_npy(fh, array)


def save_npz(path, **arrays: Any) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)


def save_json(path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def save_text(path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def save_csv(path, frame) -> None:
    """Write a pandas DataFrame as CSV without the index."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False)


#: resolution of every saved figure: 8 pt text is 11 px, readable at the report's display width
FIGURE_DPI = 100
#: mean absolute change (0-255 per channel) up to which a 256-colour palette PNG replaces the RGB one
PALETTE_TOLERANCE = 1.0


def save_figure(fig, path, dpi: int = FIGURE_DPI, palette: bool = True) -> None:
    """Save a matplotlib figure atomically as a light, opaque PNG and close it.

    The figure is rendered on white at ``dpi``, stored as RGB (no alpha channel) or, with ``palette``,
    quantised to 256 colours when that changes the pixels by at most :data:`PALETTE_TOLERANCE` on
    average (so that colour maps stay faithful), and compressed with ``optimize=True``.
    """
    from io import BytesIO

    import matplotlib.pyplot as plt
    from PIL import Image

    buf = BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight", facecolor="white")
    finally:
        plt.close(fig)
    buf.seek(0)
    rgba = Image.open(buf).convert("RGBA")
    image = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba).convert("RGB")
    if palette:
        quantised = image.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        error = np.abs(np.asarray(quantised.convert("RGB"), dtype=np.int16) - np.asarray(image, dtype=np.int16))
        if error.mean() <= PALETTE_TOLERANCE:
            image = quantised
    with atomic_path(path) as tmp:
        image.save(tmp, format="PNG", optimize=True)


def load_json(path) -> Any:
    with open(path) as fh:
        return json.load(fh)


def _json_default(obj):
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"cannot serialise {type(obj).__name__} to JSON")


def is_torchscript(path) -> bool:
    """Whether ``path`` is a TorchScript file (``torch.jit.save``: a zip archive with a ``code/`` folder and
    ``constants.pkl``) rather than a ``torch.save`` file; read from the archive's listing, without torch."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False
    return any(n.endswith("/constants.pkl") for n in names) and any("/code/" in n for n in names)
