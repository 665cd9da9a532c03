"""Social preview images (Open Graph / Twitter cards) drawn with Pillow, no browser.

``og_png`` draws the default-range heatmap matrix with the same palette as the page, the
last price and the key sentence, at 1200x630; ``thumbnail_png`` is the small index version.
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from sitegen.render.levels import default_range, fmt_price, fmt_usd, range_view
from sitegen.render.summary import Summary
from sitegen.report import SiteData

OG_SIZE = (1200, 630)
THUMB_SIZE = (320, 168)
BG = (13, 16, 23)
TEXT = (232, 236, 241)
MUTED = (154, 164, 178)
# Pillow's optimize pass makes each PNG a few per cent smaller and costs most of the time it
# takes to draw it (about a quarter of a synthetic site's render); tests whose point is not
# the image bytes turn it off (tests/conftest.py quick_png).
PNG_OPTIMIZE = True


@cache
def _lut() -> np.ndarray:
    """Inferno as a (256, 3) uint8 lookup table, the page's heatmap palette."""
    from bokeh.palettes import Inferno256

    return np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in Inferno256], dtype=np.uint8)


def heat_rgb(s: Summary, size: tuple[int, int]) -> Image.Image:
    """The default-range heatmap (long + short) as an RGB image, price up, time right."""
    view = range_view(s.report, default_range(s.report))
    heat = (view.long + view.short).astype(np.float64)  # (T, B)
    centers = view.price_centers
    rows = (centers >= view.view_low) & (centers <= view.view_high)
    heat = heat[:, rows]
    nz = heat[heat > 0]
    top = float(np.percentile(nz, 99)) if nz.size else 1.0
    idx = np.clip(heat / max(top, 1e-9) * 255, 0, 255).astype(np.uint8)
    rgb = _lut()[idx.T[::-1]]  # (B, T, 3), highest price on the first row
    img = Image.fromarray(rgb, "RGB").resize(size, Image.Resampling.BILINEAR)
    lo, hi = np.log(centers[rows][0]), np.log(centers[rows][-1])

    def y_of(price: np.ndarray | float) -> np.ndarray:
        return (1 - (np.log(price) - lo) / max(hi - lo, 1e-12)) * (size[1] - 1)

    draw = ImageDraw.Draw(img)
    # The traded price (closes) as a line, and the last price dashed across.
    xs = (np.arange(view.close.size) + 0.5) * size[0] / view.close.size
    pts = list(zip(xs.tolist(), y_of(view.close).tolist(), strict=True))
    if len(pts) > 1:
        draw.line(pts, fill=(255, 255, 255), width=max(1, size[1] // 200))
    y = int(y_of(view.last_close))
    for x in range(0, size[0], 12):
        draw.line([(x, y), (x + 6, y)], fill=(255, 255, 255), width=1)
    return img


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=PNG_OPTIMIZE)
    return buf.getvalue()


def og_png(s: Summary, site: SiteData) -> bytes:
    """1200x630 preview: heatmap on the right two thirds, title and key levels on the left."""
    w, h = OG_SIZE
    img = Image.new("RGB", OG_SIZE, BG)
    heat_w = 760
    img.paste(heat_rgb(s, (heat_w, h)), (w - heat_w, 0))
    d = ImageDraw.Draw(img)
    x = 40
    d.text((x, 40), "liqmap", font=_font(30), fill=MUTED)
    d.text((x, 90), s.pair, font=_font(60), fill=TEXT)
    d.text((x, 165), "liquidation heatmap", font=_font(30), fill=TEXT)
    d.text((x, 230), fmt_price(s.last_price), font=_font(48), fill=TEXT)
    y = 310
    for lv, colour in ((s.nearest_long, (59, 156, 255)), (s.nearest_short, (255, 159, 28))):
        if lv is None:
            continue
        label = "longs" if lv.side == "long" else "shorts"
        d.text((x, y), f"{label} at {fmt_price(lv.price, s.last_price)}", font=_font(28), fill=colour)
        d.text((x, y + 34), f"{lv.distance_pct:+.1f} %  ·  ~{fmt_usd(lv.cumulative_usd)} cumulative",
               font=_font(22), fill=MUTED)
        y += 84
    as_of = s.report.as_of.strftime("%Y-%m-%d %H:%M UTC")
    d.text((x, h - 96), f"as of {as_of}", font=_font(24), fill=MUTED)
    note = "volume model (no OI)" if s.report.volume_model else "open-interest model"
    d.text((x, h - 56), note, font=_font(20), fill=MUTED)
    d.text((x, h - 30), "estimates, not measurements", font=_font(16), fill=MUTED)
    return _png(img)


def thumbnail_png(s: Summary) -> bytes:
    """Small heatmap for the index table."""
    return _png(heat_rgb(s, THUMB_SIZE))
