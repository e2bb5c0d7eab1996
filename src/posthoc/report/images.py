"""Figures for the HTML report: re-encoded small, embedded with their pixel size.

Matplotlib writes RGBA PNGs that are mostly white; on an opaque white background the same figure is
several times smaller as WebP or as a 256-colour palette PNG. Line plots and bar charts (few colours)
are encoded losslessly; figures full of colour-mapped maps or photographs (more than
:data:`MANY_COLOURS` distinct colours) as lossy WebP at ``quality`` (100 = lossless for every figure),
which is about four times smaller again and indistinguishable at display size. Figures wider than
``max_width`` pixels are downscaled (Lanczos) first; the original file stays in the results folder.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

FORMATS = ("webp", "png")
#: Above this many distinct colours a figure counts as image-like (maps, photographs) for lossy WebP.
MANY_COLOURS = 4096


@dataclass(frozen=True)
class EmbeddedImage:
    """A data URI with the size of the embedded pixels and of the original file."""

    src: str
    width: int
    height: int
    original_width: int
    original_height: int
    original_bytes: int

    @property
    def downscaled(self) -> bool:
        return self.width != self.original_width

    @property
    def nbytes(self) -> int:
        return len(self.src)


def _opaque(img: Image.Image) -> Image.Image:
    """RGB on white: figures have no meaningful transparency, and an alpha channel costs bytes."""
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return img.convert("RGB")


def _encode(img: Image.Image, fmt: str, quality: int) -> bytes:
    buf = io.BytesIO()
    if fmt == "webp":
        if quality >= 100 or img.getcolors(maxcolors=MANY_COLOURS) is not None:
            img.save(buf, format="WEBP", lossless=True, quality=80, method=4)  # exact colours, sharp text
        else:
            img.save(buf, format="WEBP", quality=quality, method=4)
    elif fmt == "png":
        colours = img.getcolors(maxcolors=256)
        if colours is None:  # more than 256 colours: median-cut palette, no dithering (keeps text crisp)
            img = img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        else:
            img = img.quantize(colors=max(len(colours), 2), method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
        img.save(buf, format="PNG", optimize=True)
    else:
        raise ValueError(f"report.image_format must be one of {FORMATS}, got {fmt!r}")
    return buf.getvalue()


def embed_image(path, *, fmt: str, max_width: int, quality: int) -> EmbeddedImage:
    """Read a figure, make it opaque, downscale it to at most ``max_width`` px wide and encode it as ``fmt``
    (``quality``: lossy WebP quality for image-like figures, 100 = lossless)."""
    path = Path(path)
    with Image.open(path) as src:
        src.load()
        ow, oh = src.size
        img = _opaque(src)
    if ow > max_width:
        img = img.resize((max_width, max(1, round(oh * max_width / ow))), Image.Resampling.LANCZOS)
    data = _encode(img, fmt, quality)
    mime = "image/webp" if fmt == "webp" else "image/png"
    return EmbeddedImage(
        src=f"data:{mime};base64," + base64.b64encode(data).decode("ascii"),
        width=img.width,
        height=img.height,
        original_width=ow,
        original_height=oh,
        original_bytes=path.stat().st_size,
    )


__all__ = ["EmbeddedImage", "FORMATS", "embed_image"]
