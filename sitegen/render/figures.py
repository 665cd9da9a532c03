"""Bokeh figures: the heatmap (image glyph + candles + price line) and the liquidation map.

No CustomJS anywhere (it needs ``unsafe-eval`` under a CSP): the leverage filter and the
intensity control are plain JavaScript in ``static/js/liqmap.js`` that finds these models by
name through ``Bokeh.documents``. The names below are that script's contract.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from bokeh.models import (
    BasicTicker,
    ColorBar,
    ColumnDataSource,
    CrosshairTool,
    CustomJSHover,
    DatetimeTickFormatter,
    HoverTool,
    Label,
    LinearAxis,
    LinearColorMapper,
    NumeralTickFormatter,
    Range1d,
    SingleIntervalTicker,
    Span,
)
from bokeh.palettes import Inferno256
from bokeh.plotting import figure

from sitegen.model.outputs import cumulative_curves
from sitegen.render.levels import (
    RangeView,
    axis_price_format,
    colour_high,
    fmt_price,
    fmt_usd,
    numeral_price_format,
)

# Names the page script relies on (static/js/liqmap.js).
HEAT_SOURCE = "heat_src"
HEAT_MAPPER = "heat_mapper"
MAP_SOURCE = "map_src"
MAP_CUM_RANGE = "map_cum"
MAP_BAR_RANGE = "map_bars"
USD_TICKS = "usd_ticks"  # tick formatters the page script switches to fmt_usd's style
USD_HOVER = "usd_hover"  # tooltip formatters it switches likewise
OFF_ABOVE = "off_above"  # labels naming the key levels above / below the visible window
OFF_BELOW = "off_below"

PALETTE = Inferno256
LONG_COLOUR = "#3b9cff"  # blue: longs (liquidated on a fall)
SHORT_COLOUR = "#ff9f1c"  # orange: shorts (liquidated on a rise); blue/orange is CVD-safe
LONG_LINE = "#b8dcff"  # lighter tints so the cumulative curves read over their own bars
SHORT_LINE = "#ffe0a8"
CANDLE_UP = "#35e0b0"
CANDLE_DOWN = "#f25c9c"
PRICE_LINE = "#ffffff"
AXIS_TEXT = "#9aa4b2"  # readable on the dark and on the light page
GRID = "#3a3f4b"
PLOT_BG = PALETTE[0]
MAP_BG = "#0d1017"  # the dark page; liqmap.js switches plot areas to the light page's colours
PROJECTED_SHARE = 0.03  # the "now" column repeated to the right edge, as a share of the range

# The tooltip formatter's code is fmt_usd in JavaScript. It needs eval (``new Function``), so
# under the pages' CSP liqmap.js replaces each formatter's ``format`` with its own fmtUsd
# before any tooltip shows; the code below is the same function for pages without a CSP.
_USD_JS = (
    "var a=Math.abs(value),s=value<0?'-':'',u=[[1e12,'T'],[1e9,'B'],[1e6,'M'],[1e3,'K']];"
    "if(!isFinite(value))return '\\u2013';"
    "for(var i=0;i<u.length;i++){var v=a/u[i][0],t=Math.floor(v*10+0.5)/10;if(t>=1)"
    "return s+'$'+(t<10?t.toFixed(1):Math.floor(v+0.5).toFixed(0))+u[i][1];}"
    "return s+'$'+Math.floor(a+0.5).toFixed(0);"
)


def usd_ticks(format_: str = "$0.0a") -> NumeralTickFormatter:
    """A dollar tick formatter liqmap.js renders as ``$442M`` (numbro's ``$442.0m`` before)."""
    return NumeralTickFormatter(format=format_, name=USD_TICKS)


def usd_hover() -> CustomJSHover:
    return CustomJSHover(code=_USD_JS, name=USD_HOVER)


@dataclass(frozen=True)
class Mark:
    """A key level drawn on the heatmap: the headline levels and the largest clusters."""

    side: str  # "long" | "short"
    price: float
    usd: float  # cumulative USD between the last price and the level
    distance_pct: float
    headline: bool  # a level the page's sentences name (drawn stronger)

    def text(self, ref: float) -> str:
        return f"{fmt_price(self.price, ref)} {self.distance_pct:+.1f} % · {fmt_usd(self.usd)} {self.side}s"

    def short_text(self, ref: float) -> str:
        """Without the side (above the price are shorts, below longs): fits a phone's edge."""
        return f"{fmt_price(self.price, ref)} {self.distance_pct:+.1f} % · {fmt_usd(self.usd)}"


def _style(p: figure) -> None:
    p.background_fill_color = PLOT_BG
    p.border_fill_color = None
    p.outline_line_color = None
    p.min_border_left = 8
    p.min_border_right = 8
    p.min_border_top = 6
    for ax in (*p.xaxis, *p.yaxis):
        ax.axis_label_text_color = AXIS_TEXT
        ax.major_label_text_color = AXIS_TEXT
        ax.axis_line_color = GRID
        ax.major_tick_line_color = GRID
        ax.minor_tick_line_color = None
        ax.major_label_text_font_size = "11px"
    p.grid.grid_line_color = GRID
    p.grid.grid_line_alpha = 0.35
    p.toolbar.logo = None
    p.toolbar.autohide = True


def _style_legend(p: figure) -> None:
    """A compact horizontal legend in the top left, on the dark or the light page."""
    p.legend.location = "top_left"
    p.legend.orientation = "horizontal"
    p.legend.background_fill_alpha = 0.0
    p.legend.border_line_color = None
    p.legend.label_text_color = AXIS_TEXT
    p.legend.label_text_font_size = "11px"
    p.legend.padding = 2
    p.legend.margin = 2


def _time_formatter() -> DatetimeTickFormatter:
    return DatetimeTickFormatter(
        minutes="%H:%M", hourmin="%H:%M", hours="%H:%M", days="%b %d", months="%b %Y"
    )


@dataclass(frozen=True)
class HeatmapParts:
    figure: figure
    mapper: LinearColorMapper
    high: float


def _projected_columns(view: RangeView) -> int:
    return max(1, round(view.timestamp.size * PROJECTED_SHARE))


def _extend(img: np.ndarray, k: int) -> np.ndarray:
    """(B, T) -> (B, T + k): the last ("now") column repeated, so bands reach the right edge."""
    return np.ascontiguousarray(np.concatenate([img, np.repeat(img[:, -1:], k, axis=1)], axis=1))


def row_context(view: RangeView) -> tuple[np.ndarray, np.ndarray]:
    """Per price row: distance to the last price in %, and the cumulative USD liquidated if
    price travels there (longs below the last price, shorts above), at the last bar."""
    last = view.last_close
    centers = view.price_centers
    cl, cs = cumulative_curves(view.price_edges, view.long[-1].astype(float), view.short[-1].astype(float), last)
    cum = np.where(centers < last, cl, cs)
    return (centers / last - 1.0) * 100.0, cum


def heatmap_figure(
    view: RangeView, *, height: int = 560, embed: bool = False, colorbar_title: str = "",
    marks: tuple[Mark, ...] = (),
) -> HeatmapParts:
    """Price x time heatmap of estimated liquidation USD with candles and the last price.

    The last column ("now") is repeated for a few columns past the last candle so that the
    bands run to the right edge; ``marks`` are drawn as lines with labels, and the ones
    outside the window are named along the top and bottom edge (liqmap.js keeps those
    labels true while the reader pans). No drag tool is active: a swipe scrolls the page on
    a phone, and liqmap.js turns pan on for a mouse.
    """
    lo, hi = view.view_low, view.view_high
    t0 = int(view.timestamp[0])
    t1 = view.end_ms
    k = _projected_columns(view)
    t_end = t1 + k * view.bar_ms
    edges = view.price_edges
    p = figure(
        name="heatmap",
        x_axis_type="datetime",
        y_axis_type="log",
        x_range=Range1d(t0, t_end, bounds=(t0, t_end)),
        y_range=Range1d(lo, hi, bounds=(float(edges[0]), float(edges[-1]))),
        sizing_mode="stretch_both" if embed else "stretch_width",
        height=height,
        min_height=260,
        tools="pan,box_zoom,wheel_zoom,reset",
        active_drag=None,
        active_scroll=None,
        toolbar_location="above",
        y_axis_location="right",  # where traders look for the price (TradingView, Coinglass)
    )
    _style(p)
    p.xaxis.formatter = _time_formatter()
    p.yaxis.ticker = BasicTicker(desired_num_ticks=9)
    p.yaxis.formatter = NumeralTickFormatter(format=axis_price_format(view.last_close))
    p.yaxis.axis_label = None
    p.ygrid.grid_line_alpha = 0.12
    p.xgrid.grid_line_alpha = 0.12

    high = colour_high(view)
    mapper = LinearColorMapper(
        name=HEAT_MAPPER, palette=PALETTE, low=0.0, high=high, high_color=PALETTE[-1]
    )
    # Bokeh images are row-major with row 0 at the bottom: (B rows of price, T columns of time).
    long_img = _extend(view.long.T, k)
    short_img = _extend(view.short.T, k)
    grouped = len(view.groups) > 1
    dist, cum = row_context(view)
    cols = long_img.shape[1]
    data: dict[str, list[object]] = {
        # With a leverage filter the page script fills the drawn image and the hover columns
        # from the group columns (their sum) when the chart loads; zeros compress to almost
        # nothing, which takes about a third off a large page.
        "image": [np.zeros_like(long_img) if grouped else long_img + short_img],
        "long": [np.zeros_like(long_img) if grouped else long_img],
        "short": [np.zeros_like(short_img) if grouped else short_img],
        # Constant along time: a few hundred bytes once compressed.
        "dist": [np.ascontiguousarray(np.repeat(dist.astype(np.float32)[:, None], cols, axis=1))],
        "cum": [np.ascontiguousarray(np.repeat(cum.astype(np.float32)[:, None], cols, axis=1))],
        "x": [t0],
        "y": [float(edges[0])],
        "dw": [t_end - t0],
        "dh": [float(edges[-1] - edges[0])],
    }
    if grouped:
        # Per leverage group arrays for the filter: extra columns the glyph does not draw,
        # read by the page script.
        for g, lg, sg in zip(view.groups, view.long_by_group, view.short_by_group, strict=True):
            data[f"long_{g.key}"] = [_extend(lg.T, k)]
            data[f"short_{g.key}"] = [_extend(sg.T, k)]
    src = ColumnDataSource(name=HEAT_SOURCE, data=data)
    img = p.image(
        image="image", x="x", y="y", dw="dw", dh="dh", source=src, color_mapper=mapper,
        name="heat_image",
    )

    # Candles over the heat.
    mid = view.timestamp + view.bar_ms // 2
    up = view.close >= view.open
    csrc = ColumnDataSource(
        data={
            "t": mid,
            "o": view.open,
            "h": view.high,
            "l": view.low,
            "c": view.close,
            "top": np.maximum(view.open, view.close),
            "bottom": np.minimum(view.open, view.close),
            "colour": np.where(up, CANDLE_UP, CANDLE_DOWN),
        }
    )
    p.segment(x0="t", y0="l", x1="t", y1="h", source=csrc, color="colour", line_width=1)
    p.vbar(
        x="t", width=view.bar_ms * 0.62, top="top", bottom="bottom", source=csrc,
        fill_color="colour", line_color="colour",
    )
    last = view.last_close
    p.add_layout(
        Span(location=t1, dimension="height", line_color=PRICE_LINE, line_alpha=0.35,
             line_width=1, line_dash="dotted")
    )
    p.add_layout(
        Span(location=last, dimension="width", line_color=PRICE_LINE, line_dash="dashed",
             line_width=1, line_alpha=0.85)
    )
    p.add_layout(
        Label(
            x=t_end, y=last, text=f" {fmt_price(last)}", text_color="#000000",
            text_font_size="11px", background_fill_color=PRICE_LINE, background_fill_alpha=0.9,
            x_offset=-4, y_offset=-8, text_align="right",
        )
    )
    _add_marks(p, marks, last, t1, lo, hi)
    fmt = numeral_price_format(last)
    hover_usd = usd_hover()
    p.add_tools(
        HoverTool(
            renderers=[img],
            tooltips=[
                ("time", "$x{%F %H:%M} UTC"),
                ("price", f"$y{{{fmt}}}"),
                ("longs", "@long{custom}"),
                ("shorts", "@short{custom}"),
                ("from last price", "@dist{+0.0} %"),
                ("cumulative to here (now)", "@cum{custom}"),
            ],
            formatters={"$x": "datetime", "@long": hover_usd, "@short": hover_usd, "@cum": hover_usd},
            mode="mouse",
        ),
        CrosshairTool(line_color="#ffffff", line_alpha=0.3),
    )
    bar = ColorBar(
        color_mapper=mapper,
        formatter=usd_ticks(),
        ticker=BasicTicker(desired_num_ticks=5),
        orientation="horizontal",
        location=(0, 0),
        height=8,
        padding=4,
        title=colorbar_title or None,
        title_text_color=AXIS_TEXT,
        title_text_font_size="11px",
        title_text_font_style="normal",
        major_label_text_color=AXIS_TEXT,
        major_label_text_font_size="11px",
        background_fill_color=None,
        bar_line_color=None,
        major_tick_line_color=None,
    )
    p.add_layout(bar, "below")
    return HeatmapParts(p, mapper, high)


def _edge_text(arrow: str, off: list[Mark], last: float) -> str:
    """The nearest off-screen level, and how many more lie beyond (liqmap.js: edgeText)."""
    if not off:
        return ""
    nearest = min(off, key=lambda m: abs(m.price - last))
    more = f" (+{len(off) - 1} more)" if len(off) > 1 else ""
    return f"{arrow} {nearest.short_text(last)}{more}"


def _add_marks(p: figure, marks: tuple[Mark, ...], last: float, t1: int, lo: float, hi: float) -> None:
    """Key levels: a line and a label for each, and edge labels for those off screen."""
    for m in marks:
        colour = LONG_COLOUR if m.side == "long" else SHORT_COLOUR
        tint = LONG_LINE if m.side == "long" else SHORT_LINE
        p.add_layout(Span(location=m.price, dimension="width", line_color=colour,
                          line_width=1.5 if m.headline else 1, line_alpha=0.9 if m.headline else 0.6,
                          line_dash="solid" if m.headline else "dotted", name="key_level"))
        p.add_layout(Label(x=t1, y=m.price, text=m.short_text(last), text_color=tint,
                           text_font_size="10px", text_align="right", x_offset=-6,
                           y_offset=2 if m.side == "short" else -13, background_fill_color=MAP_BG,
                           background_fill_alpha=0.85, name="key_label"))
    for name, off, y, offset, arrow, side in (
        (OFF_ABOVE, [m for m in marks if m.price > hi], hi, -16, "▲", "short"),
        (OFF_BELOW, [m for m in marks if m.price < lo], lo, 4, "▼", "long"),
    ):
        p.add_layout(Label(
            x=6, x_units="screen", y=y, y_offset=offset, name=name, text=_edge_text(arrow, off, last),
            text_color=SHORT_LINE if side == "short" else LONG_LINE, text_font_size="10px",
            background_fill_color=MAP_BG, background_fill_alpha=0.85, visible=bool(off),
        ))


def nice_interval(span: float, most: int) -> float:
    """The smallest 1, 2, 2.5 or 5 x 10^k step that puts at most ``most`` ticks on ``span``."""
    if not span > 0:
        return 1.0
    k = math.floor(math.log10(span / most))
    for base in (10.0**k, 10.0 ** (k + 1)):
        for m in (1.0, 2.0, 2.5, 5.0):
            step = m * base
            if span / step < most:
                return step
    return 10.0 ** (k + 2)


def map_figure(
    view: RangeView,
    cum_long: dict[str, np.ndarray],
    cum_short: dict[str, np.ndarray],
    *,
    height: int = 360,
) -> figure:
    """Liquidation levels by price at the last bar, long and short, with cumulative curves.

    ``cum_long``/``cum_short`` map a group key ("all" or a leverage group) to (B,) curves.
    """
    edges = view.price_edges
    centers = view.price_centers
    data: dict[str, np.ndarray] = {
        "left": edges[:-1],
        "right": edges[1:],
        "price": centers,
        "long": view.long[-1].astype(np.float64),
        "short": view.short[-1].astype(np.float64),
        "cum_long": cum_long["all"],
        "cum_short": cum_short["all"],
    }
    for g, lg, sg in zip(view.groups, view.long_by_group, view.short_by_group, strict=True):
        if len(view.groups) > 1:
            data[f"long_{g.key}"] = lg[-1].astype(np.float64)
            data[f"short_{g.key}"] = sg[-1].astype(np.float64)
            data[f"cum_long_{g.key}"] = cum_long[g.key]
            data[f"cum_short_{g.key}"] = cum_short[g.key]
    src = ColumnDataSource(name=MAP_SOURCE, data=data)
    lo, hi = view.view_low, view.view_high
    rows = (centers >= lo) & (centers <= hi)
    bar_top = float(np.max(np.maximum(data["long"], data["short"])[rows], initial=0.0)) or 1.0
    cum_top = float(max(np.max(data["cum_long"][rows], initial=0.0),
                        np.max(data["cum_short"][rows], initial=0.0))) or 1.0
    p = figure(
        name="liqmap",
        x_range=Range1d(lo, hi, bounds=(float(edges[0]), float(edges[-1]))),
        y_range=Range1d(0, bar_top * 1.08, name=MAP_BAR_RANGE),
        sizing_mode="stretch_width",
        height=height,
        min_height=220,
        tools="xpan,xwheel_zoom,reset",
        active_drag=None,  # a swipe scrolls the page on a phone; liqmap.js turns pan on for a mouse
        active_scroll=None,
        toolbar_location="above",
    )
    _style(p)
    p.background_fill_color = MAP_BG
    p.extra_y_ranges = {"cum": Range1d(0, cum_top * 1.05, name=MAP_CUM_RANGE)}
    p.add_layout(
        LinearAxis(y_range_name="cum", formatter=usd_ticks(),
                   axis_label="cumulative", axis_label_text_color=AXIS_TEXT,
                   major_label_text_color=AXIS_TEXT, axis_line_color=GRID,
                   major_tick_line_color=GRID, minor_tick_line_color=None,
                   axis_label_text_font_size="11px", major_label_text_font_size="11px",
                   axis_label_text_font_style="normal"),
        "right",
    )
    p.yaxis[0].formatter = usd_ticks()
    p.yaxis[0].axis_label = "per price row"
    p.yaxis[0].axis_label_text_font_style = "normal"
    p.yaxis[0].axis_label_text_font_size = "11px"
    p.xaxis.formatter = NumeralTickFormatter(format=axis_price_format(view.last_close))
    # At most 4 ticks, so "$87,500" labels do not run together at 375 px: BasicTicker only
    # aims at a count, so the interval is chosen here from the visible span.
    p.xaxis.ticker = SingleIntervalTicker(interval=nice_interval(hi - lo, 4), num_minor_ticks=0)
    bl = p.quad(left="left", right="right", bottom=0, top="long", source=src,
                fill_color=LONG_COLOUR, fill_alpha=0.85, line_color=None, legend_label="long levels")
    bs = p.quad(left="left", right="right", bottom=0, top="short", source=src,
                fill_color=SHORT_COLOUR, fill_alpha=0.85, line_color=None, legend_label="short levels")
    last = view.last_close
    p.line(x="price", y="cum_long", source=src, y_range_name="cum", line_color=LONG_LINE,
                line_width=2.5, legend_label="cumulative longs", name="cum_long_line")
    p.line(x="price", y="cum_short", source=src, y_range_name="cum", line_color=SHORT_LINE,
                line_width=2.5, line_dash="dashed", legend_label="cumulative shorts", name="cum_short_line")
    p.add_layout(Span(location=last, dimension="height", line_color="#ffffff", line_dash="dotted",
                      line_width=1, name="price_span"))
    fmt = numeral_price_format(last)
    hover_usd = usd_hover()
    p.add_tools(
        HoverTool(
            renderers=[bl, bs],
            tooltips=[
                ("price", f"@price{{{fmt}}}"),
                ("longs here", "@long{custom}"),
                ("shorts here", "@short{custom}"),
                ("cum. longs from price", "@cum_long{custom}"),
                ("cum. shorts from price", "@cum_short{custom}"),
            ],
            formatters={c: hover_usd for c in ("@long", "@short", "@cum_long", "@cum_short")},
            mode="vline",
        )
    )
    legend = p.legend[0]
    p.add_layout(legend, "above")  # outside the bars, so it never hides them on a phone
    _style_legend(p)
    p.legend.ncols = 2  # two rows of two: fits a 375 px phone
    p.legend.click_policy = "hide"
    p.legend.spacing = 6
    return p


def predicted_figure(view: RangeView, x_range: Range1d, *, height: int = 150) -> figure:
    """The model's predicted liquidations per column: shorts up, longs down, on the heatmap's time axis.

    This is the series the methodology page scores against realised liquidations.
    """
    half = view.bar_ms * 0.4
    data = {
        "t": view.timestamp + view.bar_ms / 2,
        "long": -view.predicted_long,
        "short": view.predicted_short,
        "long_usd": view.predicted_long,
    }
    src = ColumnDataSource(data=data)
    top = float(max(np.max(view.predicted_long, initial=0.0), np.max(view.predicted_short, initial=0.0))) or 1.0
    p = figure(
        name="predicted",
        x_range=x_range,
        y_range=Range1d(-top * 1.08, top * 1.08),
        x_axis_type="datetime",
        sizing_mode="stretch_width",
        height=height,
        min_height=110,
        tools="",
        toolbar_location=None,
    )
    _style(p)
    p.background_fill_color = MAP_BG
    p.xaxis.formatter = _time_formatter()
    p.yaxis.formatter = usd_ticks()
    p.yaxis.ticker = BasicTicker(desired_num_ticks=3)
    bs = p.vbar(x="t", width=2 * half, top="short", bottom=0, source=src, fill_color=SHORT_COLOUR,
                line_color=None, legend_label="shorts")
    bl = p.vbar(x="t", width=2 * half, top=0, bottom="long", source=src, fill_color=LONG_COLOUR,
                line_color=None, legend_label="longs")
    p.add_tools(
        HoverTool(
            renderers=[bs, bl],
            tooltips=[("time", "@t{%F %H:%M} UTC"), ("longs", "@long_usd{custom}"), ("shorts", "@short{custom}")],
            formatters={"@t": "datetime", "@long_usd": usd_hover(), "@short": usd_hover()},
            mode="mouse",
        )
    )
    _style_legend(p)
    return p
