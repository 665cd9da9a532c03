"""The heatmap as a light static picture, drawn at build time, shown before BokehJS loads.

A phone on a slow network sees this picture at once (one small WebP instead of 1.3 MB of
BokehJS and three figures initialising); ``static/js/liqmap.js`` swaps in the interactive
Bokeh figure on the reader's first tap, key, wheel, scroll or mouse move. The picture covers
exactly the figure's default frame (same time span, same log price window, same palette and
colour-scale top, candles and the last price), so the swap does not jump.
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
from bokeh.palettes import Inferno256
from PIL import Image, ImageDraw

from sitegen.render.figures import CANDLE_DOWN, CANDLE_UP, PROJECTED_SHARE
from sitegen.render.levels import RangeView, colour_high

POSTER_SIZE = (960, 480)  # px; stretched to the chart frame by CSS
POSTER_QUALITY = 72


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return int(hex_colour[1:3], 16), int(hex_colour[3:5], 16), int(hex_colour[5:7], 16)


@cache
def _lut() -> np.ndarray:
    """The page's palette as a (256, 3) uint8 lookup table."""
    return np.array([_rgb(c) for c in Inferno256], dtype=np.uint8)


def poster_image(view: RangeView, size: tuple[int, int] = POSTER_SIZE) -> Image.Image:
    """The default frame of :func:`sitegen.render.figures.heatmap_figure` as an RGB image."""
    w, h = size
    t0 = float(view.timestamp[0])
    t1 = float(view.end_ms)
    k = max(1, round(view.timestamp.size * PROJECTED_SHARE))
    t_end = t1 + k * view.bar_ms
    lo, hi = np.log(view.view_low), np.log(view.view_high)

    # Which heat cell each pixel shows: columns by time, rows by log price (row 0 at the top).
    px_t = t0 + (np.arange(w) + 0.5) / w * (t_end - t0)
    col = np.clip(((px_t - t0) // view.bar_ms).astype(np.int64), 0, view.timestamp.size - 1)
    px_price = np.exp(hi - (np.arange(h) + 0.5) / h * (hi - lo))
    row = np.searchsorted(view.price_edges, px_price, side="right") - 1
    inside = (row >= 0) & (row < view.price_edges.size - 1)
    row = np.clip(row, 0, view.price_edges.size - 2)
    heat = (view.long + view.short)[col[None, :], row[:, None]].astype(np.float64)  # (h, w)
    heat[~inside, :] = 0.0
    idx = np.clip(heat / colour_high(view) * 255, 0, 255).astype(np.uint8)
    img = Image.fromarray(_lut()[idx], "RGB")

    def x_of(t: np.ndarray | float) -> np.ndarray:
        return (np.asarray(t, dtype=np.float64) - t0) / (t_end - t0) * w

    def y_of(p: np.ndarray | float) -> np.ndarray:
        return (hi - np.log(np.asarray(p, dtype=np.float64))) / (hi - lo) * h

    draw = ImageDraw.Draw(img)
    mid = x_of(view.timestamp + view.bar_ms / 2)
    half = max(0.5, 0.31 * view.bar_ms / (t_end - t0) * w)
    up, down = _rgb(CANDLE_UP), _rgb(CANDLE_DOWN)
    for x, o, hh, ll, c in zip(mid, y_of(view.open), y_of(view.high), y_of(view.low), y_of(view.close),
                               strict=True):
        colour = up if c <= o else down  # y grows downward: a close above the open is up
        draw.line([(x, hh), (x, ll)], fill=colour, width=1)
        draw.rectangle([x - half, min(o, c), x + half, max(o, c)], fill=colour)
    y = float(y_of(view.last_close))
    for x in range(0, w, 10):
        draw.line([(x, y), (x + 5, y)], fill=(255, 255, 255), width=1)
    return img


def poster_webp(view: RangeView) -> bytes:
    buf = io.BytesIO()
    poster_image(view).save(buf, format="WEBP", quality=POSTER_QUALITY, method=6)
    return buf.getvalue()
