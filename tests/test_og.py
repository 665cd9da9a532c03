"""Social preview images: size, real content, byte-stable for the same data."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from sitegen.render.og import OG_SIZE, THUMB_SIZE, og_png, thumbnail_png
from sitegen.render.summary import summarise
from tests.test_render import synthetic_report, synthetic_site


def test_og_image_is_1200x630_and_shows_the_heatmap() -> None:
    site = synthetic_site()
    s = summarise(site.symbols[0])
    png = og_png(s, site)
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG" and img.size == OG_SIZE == (1200, 630)
    px = np.asarray(img.convert("RGB"))
    heat = px[:, 480:].reshape(-1, 3).astype(np.int32)  # the heatmap panel on the right
    assert len(np.unique((heat[:, 0] << 16) | (heat[:, 1] << 8) | heat[:, 2])) > 50  # distinct colours
    assert len(png) < 400_000
    assert og_png(s, site) == png  # same data, same bytes


def test_thumbnail_size_and_difference_between_symbols() -> None:
    a = thumbnail_png(summarise(synthetic_report()))
    b = thumbnail_png(summarise(synthetic_report("ETH/USDT:USDT", seed=5)))
    assert Image.open(io.BytesIO(a)).size == THUMB_SIZE
    assert a != b
