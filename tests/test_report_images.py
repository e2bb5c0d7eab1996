"""Report figures: re-encoded without loss of colour, opaque, downscaled only when too wide."""

import base64
import io as _io

import numpy as np
import pytest
from PIL import Image

from posthoc.report.images import embed_image


def _decode(src):
    return np.asarray(Image.open(_io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))


@pytest.mark.parametrize("fmt", ["webp", "png"])
def test_few_colour_rgba_figure_is_exact_and_opaque(tmp_path, fmt):
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (20, 3), dtype=np.uint8)
    rgb = palette[rng.integers(0, 20, (60, 90))]
    alpha = np.full((60, 90, 1), 255, np.uint8)
    alpha[:10] = 0  # transparent band → white
    Image.fromarray(np.concatenate([rgb, alpha], axis=2), "RGBA").save(tmp_path / "f.png")
    img = embed_image(tmp_path / "f.png", fmt=fmt, max_width=2400, quality=90)  # few colours: lossless
    assert img.src.startswith(f"data:image/{fmt};base64,") and (img.width, img.height) == (90, 60)
    assert not img.downscaled
    out = _decode(img.src)
    assert (out[:10] == 255).all() and np.array_equal(out[10:], rgb[10:])


def test_wide_figure_is_downscaled_and_smaller(tmp_path):
    x = np.linspace(0, 1, 3000)
    smooth = (np.stack([x, x[::-1], 0.5 + 0 * x], 1)[None] * 255).astype(np.uint8).repeat(200, axis=0)
    rgba = np.concatenate([smooth, np.full((200, 3000, 1), 255, np.uint8)], 2)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "w.png")
    img = embed_image(tmp_path / "w.png", fmt="webp", max_width=1000, quality=100)
    assert (img.width, img.height, img.original_width, img.original_height) == (1000, 67, 3000, 200)
    assert img.downscaled and img.nbytes < img.original_bytes
    assert np.abs(_decode(img.src)[33, 500].astype(int) - smooth[100, 1500]).max() <= 3
    # many colours (a smooth 2-D field, like a colour-mapped map): lossy at quality 90, smaller, close
    y, x = np.mgrid[0:400, 0:500] / 400
    field = (np.stack([x, y, 0.5 + 0.5 * np.sin(6 * x * y)], 2) * 255).astype(np.uint8)
    Image.fromarray(field).save(tmp_path / "map.png")
    lossless = embed_image(tmp_path / "map.png", fmt="webp", max_width=1000, quality=100)
    lossy = embed_image(tmp_path / "map.png", fmt="webp", max_width=1000, quality=90)
    assert np.array_equal(_decode(lossless.src), field)
    assert lossy.nbytes < lossless.nbytes / 2 and np.abs(_decode(lossy.src).astype(int) - field).mean() < 3
    with pytest.raises(ValueError, match="report.image_format"):
        embed_image(tmp_path / "w.png", fmt="gif", max_width=1000, quality=90)
