"""Realised liquidations on the charts, and the live accuracy in words and numbers.

Kept apart from :mod:`sitegen.render.figures` (one hook per figure in ``pages.py``):

* :func:`add_markers` draws each realised liquidation on the heatmap at its price and time,
  sized by USD, longs and shorts in the page's two colours, with a legend entry that hides
  them and a tooltip (time, price, side, USD, exchange). Sources that only publish hourly
  totals (no price) are drawn at that hour's low (longs) or high (shorts), where a
  liquidation cascade trades, and the tooltip says so.
* :func:`add_to_panel` puts the realised USD per bar beside the predicted series, on its
  own right-hand axis (hourly totals beside 5-minute predictions differ 12x in scale).

The numbers for the templates and ``data/<slug>.json`` are in
:mod:`sitegen.render.realised_data` (no bokeh).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from bokeh.models import ColumnDataSource, HoverTool, LinearAxis, NumeralTickFormatter, Range1d
from bokeh.plotting import figure

from sitegen.liquidations import Realised, events_between, on_bars
from sitegen.render.figures import AXIS_TEXT, GRID, LONG_COLOUR, SHORT_COLOUR, _style_legend
from sitegen.render.levels import RangeView, numeral_price_format

MARKER_SOURCE = "realised_src"  # names the browser test and the page script can find
MARKER_RENDERER = "realised_markers"
PANEL_RENDERERS = ("realised_long", "realised_short")
LEGEND_LABEL = "realised liquidations"
MIN_SIZE, MAX_SIZE = 7.0, 30.0  # marker diameter in screen px, smallest and largest USD
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class Marker:
    t: int  # ms UTC
    price: float
    side: str
    usd: float
    exchange: str
    note: str  # "" for an event, "hourly total at the hour's low/high" for an aggregate


def markers(view: RangeView, realised: Realised | None) -> list[Marker]:
    """Every realised liquidation inside the view's time window, events first."""
    if not realised:
        return []
    t0, t1 = int(view.timestamp[0]), view.end_ms
    out = [
        Marker(e.ts, e.price, e.side, e.usd, e.exchange, "")
        for e in events_between(realised, t0, t1)
    ]
    for tot in realised.totals:
        if view.bar_ms >= tot.bar_ms:
            # One marker per side and column of the view (totals summed to the column).
            only = Realised(realised.symbol, totals=(tot,))
            bars = on_bars(only, view.timestamp, view.bar_ms)
            starts, lows, highs = view.timestamp, view.low, view.high
            width = view.bar_ms
            sel = np.flatnonzero(bars.covered)
            longs, shorts = bars.long_usd, bars.short_usd
        else:
            hours = np.unique((view.timestamp // tot.bar_ms) * tot.bar_ms)
            only = Realised(realised.symbol, totals=(tot,))
            bars = on_bars(only, hours, tot.bar_ms)
            idx = np.searchsorted(hours, view.timestamp, side="right") - 1
            lows = np.array([np.min(view.low[idx == i]) for i in range(hours.shape[0])])
            highs = np.array([np.max(view.high[idx == i]) for i in range(hours.shape[0])])
            starts, width = hours, tot.bar_ms
            sel = np.flatnonzero(bars.covered)
            longs, shorts = bars.long_usd, bars.short_usd
        unit = "hourly total" if width == HOUR_MS else f"total of {width // HOUR_MS} h" if width > HOUR_MS else "total"
        for i in sel:
            mid = int(starts[i]) + width // 2
            for side, usd, price, where in (
                ("long", float(longs[i]), float(lows[i]), "low"),
                ("short", float(shorts[i]), float(highs[i]), "high"),
            ):
                if usd > 0:
                    out.append(Marker(mid, price, side, usd, tot.source, f"{unit}, drawn at the bar's {where}"))
    return out


def _sizes(usd: np.ndarray) -> np.ndarray:
    if usd.shape[0] == 0:
        return usd
    top = float(np.max(usd)) or 1.0
    return MIN_SIZE + (MAX_SIZE - MIN_SIZE) * np.sqrt(usd / top)  # area grows with USD


def add_markers(p: figure, view: RangeView, realised: Realised | None) -> int:
    """Draw the realised liquidations on the heatmap ``p``; returns how many were drawn."""
    ms = markers(view, realised)
    if not ms:
        return 0
    usd = np.array([m.usd for m in ms], dtype=np.float64)
    src = ColumnDataSource(
        name=MARKER_SOURCE,
        data={
            "t": np.array([m.t for m in ms], dtype=np.int64),
            "price": np.array([m.price for m in ms], dtype=np.float64),
            "usd": usd,
            "size": _sizes(usd),
            "side": [m.side for m in ms],
            "exchange": [m.exchange for m in ms],
            "note": [m.note or "single liquidation" for m in ms],
            "colour": [LONG_COLOUR if m.side == "long" else SHORT_COLOUR for m in ms],
        },
    )
    r = p.scatter(
        x="t", y="price", size="size", source=src, marker="circle", fill_color="colour",
        fill_alpha=0.75, line_color="#ffffff", line_width=1.2, name=MARKER_RENDERER,
        legend_label=LEGEND_LABEL,
    )
    fmt = numeral_price_format(view.last_close)
    p.add_tools(HoverTool(
        renderers=[r],
        tooltips=[
            ("time", "@t{%F %H:%M:%S} UTC"),
            ("price", f"@price{{{fmt}}}"),
            ("side", "@side liquidated"),
            ("USD", "@usd{$0,0}"),
            ("exchange", "@exchange"),
            ("", "@note"),
        ],
        formatters={"@t": "datetime"},
        mode="mouse",
        point_policy="snap_to_data",
    ))
    _style_legend(p)
    p.legend.click_policy = "hide"
    p.legend.background_fill_color = "#000000"
    p.legend.background_fill_alpha = 0.45
    return len(ms)


def add_to_panel(p: figure, view: RangeView, realised: Realised | None) -> int:
    """Realised USD per bar beside the predicted bars (shorts up, longs down) on a right axis.

    Bars of the view's own length where a source resolves them, else hourly totals drawn
    one hour wide. Returns the number of bars drawn."""
    if not realised:
        return 0
    bars = on_bars(realised, view.timestamp, view.bar_ms)
    width = view.bar_ms
    t, lng, sht = bars.timestamp[bars.covered], bars.long_usd[bars.covered], bars.short_usd[bars.covered]
    if not np.any(bars.covered) and view.bar_ms < HOUR_MS:
        hours = np.unique((view.timestamp // HOUR_MS) * HOUR_MS)
        hb = on_bars(realised, hours, HOUR_MS)
        t, lng, sht = hb.timestamp[hb.covered], hb.long_usd[hb.covered], hb.short_usd[hb.covered]
        width = HOUR_MS
    if t.shape[0] == 0:
        return 0
    top = float(max(np.max(lng, initial=0.0), np.max(sht, initial=0.0))) or 1.0
    p.extra_y_ranges = {**p.extra_y_ranges, "realised": Range1d(start=-top * 1.08, end=top * 1.08)}
    p.add_layout(
        LinearAxis(y_range_name="realised", formatter=NumeralTickFormatter(format="$0.0a"),  # type: ignore[arg-type]
                   major_label_text_color=AXIS_TEXT, axis_line_color=GRID,
                   major_tick_line_color=GRID, minor_tick_line_color=None,
                   major_label_text_font_size="11px", axis_label="realised",
                   axis_label_text_color=AXIS_TEXT, axis_label_text_font_size="11px",
                   axis_label_text_font_style="normal"),
        "right",
    )
    src = ColumnDataSource(data={
        "t": t + width / 2, "long": -lng, "short": sht, "long_usd": lng,
    })
    rs = p.vbar(x="t", width=width * 0.9, top="short", bottom=0, source=src, y_range_name="realised",
                fill_alpha=0.0, line_color=SHORT_COLOUR, line_width=1.5, name=PANEL_RENDERERS[1],
                legend_label="realised")
    rl = p.vbar(x="t", width=width * 0.9, top=0, bottom="long", source=src, y_range_name="realised",
                fill_alpha=0.0, line_color=LONG_COLOUR, line_width=1.5, name=PANEL_RENDERERS[0],
                legend_label="realised")
    p.add_tools(HoverTool(
        renderers=[rs, rl],
        tooltips=[("bar", "@t{%F %H:%M} UTC"), ("realised longs", "@long_usd{$0.00a}"),
                  ("realised shorts", "@short{$0.00a}")],
        formatters={"@t": "datetime"},
        mode="mouse",
    ))
    _style_legend(p)
    p.legend.click_policy = "hide"
    return int(t.shape[0])


