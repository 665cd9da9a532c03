"""What a page shows, computed from the model output: pure numpy, no bokeh, no I/O.

A :class:`RangeView` is one range of one symbol (e.g. the last 288 bars of 5-minute data),
cut to the price rows worth shipping, with the heat split into leverage groups so that the
page can filter by leverage without a server. The model math itself (clusters, cumulative
curves) comes from :mod:`sitegen.model`; this module only slices, groups and words it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sitegen.config import RANGES
from sitegen.model.types import Cluster, ModelResult
from sitegen.report import SymbolReport
from sitegen.series import TIMEFRAME_MS, Candles

DEFAULT_RANGE = "24h"
SIG_DIGITS = 3


@dataclass(frozen=True)
class LeverageGroup:
    key: str  # "high", "medium", "low"
    name: str  # "high"
    lo: float  # leverage >= lo
    hi: float  # leverage < hi
    leverages: tuple[float, ...]  # the model's leverages that fall in the group
    index: tuple[int, ...]  # their positions in ModelResult.leverages

    @property
    def label(self) -> str:
        levs = ", ".join(f"{lev:g}x" for lev in self.leverages)
        return f"{self.name} ({levs})"


# Leverage bands of the filter (the high 50-100x / medium 20-25x / low 5-10x);
# the bounds sit between the usual tiers so a configured 15x or 75x still lands somewhere.
_GROUP_BOUNDS = (("high", 40.0, math.inf), ("medium", 15.0, 40.0), ("low", 0.0, 15.0))


def leverage_groups(leverages: tuple[float, ...]) -> tuple[LeverageGroup, ...]:
    """The non-empty leverage groups for the model's leverages, highest first."""
    groups = []
    for key, lo, hi in _GROUP_BOUNDS:
        idx = tuple(i for i, lev in enumerate(leverages) if lo <= lev < hi)
        if idx:
            groups.append(LeverageGroup(key, key, lo, hi, tuple(leverages[i] for i in idx), idx))
    return tuple(groups)


def round_sig(values: np.ndarray, digits: int = SIG_DIGITS) -> np.ndarray:
    """Round to ``digits`` significant digits, as float32 (smaller after compression)."""
    a = np.asarray(values, dtype=np.float64)
    out = np.zeros_like(a)
    nz = np.isfinite(a) & (a != 0)
    if np.any(nz):
        mag = np.floor(np.log10(np.abs(a[nz])))
        scale = 10.0 ** (digits - 1 - mag)
        out[nz] = np.round(a[nz] * scale) / scale
    return out.astype(np.float32)


@dataclass(frozen=True)
class RangeView:
    """One range of one symbol, ready to draw. Heat arrays are (T, B) USD per price row."""

    name: str  # "24h"
    timeframe: str  # "5m"
    bar_ms: int
    timestamp: np.ndarray  # int64 ms bar open (T,)
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    price_edges: np.ndarray  # (B+1,) the rows shipped (a cut of the model grid)
    long: np.ndarray  # float32 (T, B)
    short: np.ndarray  # float32 (T, B)
    predicted_long: np.ndarray  # float64 (T,) USD of longs the model liquidates in each column
    predicted_short: np.ndarray  # float64 (T,)
    groups: tuple[LeverageGroup, ...]
    long_by_group: tuple[np.ndarray, ...]  # one (T, B) per group
    short_by_group: tuple[np.ndarray, ...]
    view_low: float  # default visible price window
    view_high: float

    @property
    def last_close(self) -> float:
        return float(self.close[-1])

    @property
    def price_centers(self) -> np.ndarray:
        return np.sqrt(self.price_edges[:-1] * self.price_edges[1:])

    @property
    def end_ms(self) -> int:
        return int(self.timestamp[-1]) + self.bar_ms


def default_range(report: SymbolReport) -> str:
    if DEFAULT_RANGE in report.ranges:
        return DEFAULT_RANGE
    return report.ranges[0]


def view_window(
    low: np.ndarray, high: np.ndarray, last: float, include: tuple[float, ...] = (), *,
    limit_pct: float = 25.0,
) -> tuple[float, float]:
    """The price window shown by default: the traded range with room above and below.

    At least +-3 % around the last price, so the nearest clusters are on screen even when
    the market barely moved; widened to show every price in ``include`` (the nearest large
    cluster on each side) with 1.5 % to spare, but never beyond +-``limit_pct`` % of price.
    """
    lo, hi = float(np.min(low)), float(np.max(high))
    pad = (hi - lo) * 0.35
    lo, hi = min(lo - pad, last * 0.97), max(hi + pad, last * 1.03)
    for p in include:
        if last * (1 - limit_pct / 100) <= p <= last * (1 + limit_pct / 100):
            lo, hi = min(lo, p / 1.015), max(hi, p * 1.015)
    return lo, hi


def _align(result: ModelResult, candles: Candles, bars: int) -> tuple[np.ndarray, np.ndarray]:
    """Row indices into result and candles for the last ``bars`` bars both have."""
    common, ri, ci = np.intersect1d(result.timestamp, candles.timestamp, return_indices=True)
    if common.size == 0:
        raise ValueError("model output and candles share no timestamps")
    return ri[-bars:], ci[-bars:]


MAX_COLUMNS = 700  # time columns shipped per page; a wider range merges bars (e.g. 1w -> 15m)


def _merge(a: np.ndarray, k: int, how: str) -> np.ndarray:
    """Merge runs of ``k`` bars along axis 0 (the length is a multiple of k)."""
    if k == 1:
        return a
    r = a.reshape(a.shape[0] // k, k, *a.shape[1:])
    if how == "first":
        return r[:, 0]
    if how == "last":
        return r[:, -1]
    if how == "max":
        return r.max(axis=1)
    if how == "min":
        return r.min(axis=1)
    if how == "sum":
        return r.sum(axis=1)
    return r.mean(axis=1)


def range_view(
    report: SymbolReport, name: str, *, row_margin: float = 1.04, max_columns: int = MAX_COLUMNS,
    include: tuple[float, ...] = (),
) -> RangeView:
    """Cut the model output of ``report`` to range ``name`` and the useful price rows.

    Ranges with more bars than ``max_columns`` merge ``k`` consecutive bars into one column
    (heat averaged, candles merged as OHLC), which keeps the page small without losing any
    price detail. ``include``: prices the default window must show (see :func:`view_window`).
    """
    tf, bars = RANGES[name]
    result = report.results[tf]
    candles = report.candles[tf]
    ri, ci = _align(result, candles, bars)
    k = max(1, -(-ri.size // max_columns))
    cut = ri.size % k
    ri, ci = ri[cut:], ci[cut:]
    low = _merge(candles.low[ci], k, "min")
    high = _merge(candles.high[ci], k, "max")
    close = _merge(candles.close[ci], k, "last")
    v_lo, v_hi = view_window(low, high, float(close[-1]), include)
    edges = result.price_edges
    # Ship the rows a reader can reach by zooming out a little, not the whole +-30 % grid.
    b0 = max(int(np.searchsorted(edges, v_lo / row_margin, side="right")) - 1, 0)
    b1 = min(int(np.searchsorted(edges, v_hi * row_margin, side="left")), edges.size - 1)
    if b1 <= b0:
        b0, b1 = 0, edges.size - 1
    rows = slice(b0, b1)
    groups = leverage_groups(result.leverages)

    def heat_cut(a: np.ndarray) -> np.ndarray:  # already cut to (ri, rows)
        return round_sig(_merge(np.asarray(a, dtype=np.float64), k, "mean"))

    def heat(a: np.ndarray) -> np.ndarray:
        return heat_cut(a[ri][:, rows])

    hl = result.heat_long_by_leverage[:, ri, rows]
    hs = result.heat_short_by_leverage[:, ri, rows]
    lbg = tuple(heat_cut(hl[list(g.index)].sum(axis=0, dtype=np.float64)) for g in groups)
    sbg = tuple(heat_cut(hs[list(g.index)].sum(axis=0, dtype=np.float64)) for g in groups)
    return RangeView(
        name=name,
        timeframe=tf if k == 1 else f"{k} x {tf}",
        bar_ms=TIMEFRAME_MS[tf] * k,
        timestamp=_merge(candles.timestamp[ci], k, "first"),
        open=_merge(candles.open[ci], k, "first"),
        high=high,
        low=low,
        close=close,
        price_edges=edges[b0 : b1 + 1],
        long=heat(result.heat_long),
        short=heat(result.heat_short),
        predicted_long=_merge(np.asarray(result.predicted_long, dtype=np.float64)[ri], k, "sum"),
        predicted_short=_merge(np.asarray(result.predicted_short, dtype=np.float64)[ri], k, "sum"),
        groups=groups,
        long_by_group=lbg,
        short_by_group=sbg,
        view_low=max(v_lo, float(edges[b0])),
        view_high=min(v_hi, float(edges[b1])),
    )


def colour_high(view: RangeView, group: int | None = None) -> float:
    """Top of the colour scale: the 99th percentile of non-empty cells in the visible window.

    One spike must not wash the rest of the map out; anything above is drawn in the top colour.
    ``group`` picks one leverage group (index into ``view.groups``) instead of all positions.
    """
    centers = view.price_centers
    rows = (centers >= view.view_low) & (centers <= view.view_high)
    if group is None:
        cells = (view.long + view.short)[:, rows]
    else:
        cells = (view.long_by_group[group] + view.short_by_group[group])[:, rows]
    nz = cells[cells > 0]
    if nz.size == 0:
        return 1.0
    return float(max(np.percentile(nz, 99), 1.0))


# -- wording -------------------------------------------------------------------------------

def fmt_usd(x: float) -> str:
    """The site's one dollar style: $442M, $3.7B, $12K, $950, -$100M.

    Below 10 of a unit one decimal, from 10 up whole units; the minus goes before the dollar.
    ``static/js/liqmap.js`` (``fmtUsd``) writes the charts' axes, colour bar and tooltips
    the same way, and a test holds the two to the same answers.
    """
    if not math.isfinite(x):
        return "–"
    sign = "-" if x < 0 else ""
    a = abs(x)
    # Round half up with floor(), the same arithmetic as the JavaScript copy (Python's own
    # round() and format() round half to even, JavaScript's toFixed() half up).
    for div, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "K")):
        v = a / div
        tenths = math.floor(v * 10 + 0.5) / 10
        if tenths >= 1:
            text = f"{tenths:.1f}" if tenths < 10 else f"{math.floor(v + 0.5):.0f}"
            return f"{sign}${text}{unit}"
    return f"{sign}${math.floor(a + 0.5):.0f}"


def price_decimals(price: float) -> int:
    if price >= 1000:
        return 0
    if price >= 10:
        return 2
    if price >= 1:
        return 3
    return 5


def fmt_price(x: float, ref: float | None = None) -> str:
    d = price_decimals(ref if ref is not None else x)
    return f"${x:,.{d}f}"


def numeral_price_format(price: float) -> str:
    """The Bokeh NumeralTickFormatter / tooltip format for prices near ``price``."""
    d = price_decimals(price)
    return "$0,0" if d == 0 else "$0,0." + "0" * d


def axis_price_format(price: float) -> str:
    """Axis ticks are round numbers: decimals only when a tick needs them ("$121", "$121.5")."""
    d = price_decimals(price)
    return "$0,0" if d == 0 else "$0,0[.]" + "0" * d


@dataclass(frozen=True)
class Level:
    """A cluster worded for the page."""

    side: str
    price: float
    usd: float
    distance_pct: float
    cumulative_usd: float  # everything on that side between the last price and this level


def cumulative_to(
    side: str, price: float, centers: np.ndarray, cum_long: np.ndarray, cum_short: np.ndarray
) -> float:
    """Cumulative USD of ``side`` liquidated if price travels to ``price``."""
    if side == "long":
        idx = int(np.searchsorted(centers, price, side="left"))
        idx = min(max(idx, 0), centers.size - 1)
        return float(cum_long[idx])
    idx = int(np.searchsorted(centers, price, side="right")) - 1
    idx = min(max(idx, 0), centers.size - 1)
    return float(cum_short[idx])


def levels(
    clusters: list[Cluster], centers: np.ndarray, cum_long: np.ndarray, cum_short: np.ndarray
) -> list[Level]:
    return [
        Level(c.side, c.price, c.usd, c.distance_pct, cumulative_to(c.side, c.price, centers, cum_long, cum_short))
        for c in clusters
    ]


def nearest_large(levels_: list[Level], side: str, share: float = 0.25) -> Level | None:
    """The nearest level of ``side`` holding at least ``share`` of that side's largest one."""
    side_levels = [lv for lv in levels_ if lv.side == side and lv.usd > 0]
    if not side_levels:
        return None
    biggest = max(lv.usd for lv in side_levels)
    big = [lv for lv in side_levels if lv.usd >= share * biggest]
    return min(big, key=lambda lv: abs(lv.distance_pct))


def headline(level: Level | None, ref_price: float) -> str:
    """One sentence a journalist can quote, or an honest empty statement."""
    if level is None:
        return ""
    where = fmt_price(level.price, ref_price)
    if level.side == "long":
        return (
            f"A fall below {where} ({level.distance_pct:+.1f} %) would liquidate about "
            f"{fmt_usd(level.cumulative_usd)} of longs."
        )
    return (
        f"A rise above {where} ({level.distance_pct:+.1f} %) would liquidate about "
        f"{fmt_usd(level.cumulative_usd)} of shorts."
    )


def change_pct(candles: Candles, hours: float = 24.0) -> float | None:
    """Price change over the last ``hours`` in percent, or None without enough history."""
    if len(candles) < 2:
        return None
    bar_ms = TIMEFRAME_MS[candles.timeframe]
    n = round(hours * 3_600_000 / bar_ms)
    if len(candles) <= n:
        return None
    ref = float(candles.close[-n - 1])
    return (float(candles.close[-1]) / ref - 1.0) * 100.0 if ref > 0 else None
