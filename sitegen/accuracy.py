"""Live accuracy: the model's predicted liquidations scored against realised ones, per symbol.

Same metric code as ``liqmap evaluate`` (:func:`sitegen.model.metrics.log_corr`,
:func:`~sitegen.model.metrics.top_decile_capture`, the bar-range x open-interest baseline),
over the last 7 and 30 days of hourly bars, on the bars a realised source covered only.
Below :data:`FLOOR_BARS` covered bars the score is "not enough data".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from sitegen.liquidations import Accuracy, Realised, SideScore, on_bars
from sitegen.model import align_open_interest
from sitegen.model.metrics import log_corr, top_decile_capture
from sitegen.report import SymbolReport
from sitegen.series import TIMEFRAME_MS, MarketSeries

WINDOWS_DAYS = (7, 30)
# Three days of covered hourly bars: fewer give a correlation that swings with a single
# cascade (and top-10 % of < 72 bars is a handful of bars).
FLOOR_BARS = 72
SCORE_TIMEFRAME = "1h"  # realised totals are hourly; 5-minute bars would be mostly empty


def open_interest_on(series: Sequence[MarketSeries], timestamp: np.ndarray, tf: str) -> np.ndarray | None:
    """Open interest in USD at each bar of ``timestamp`` summed over the exchanges that have it
    (aligned as the model aligns it); None when no exchange has open interest."""
    total = np.zeros(timestamp.shape[0])
    found = False
    for s in series:
        if tf not in s.candles or s.open_interest is None or len(s.candles[tf]) == 0:
            continue
        c = s.candles[tf]
        oi = align_open_interest(c.timestamp, TIMEFRAME_MS[tf], c.volume, s.open_interest)
        _, ia, ib = np.intersect1d(timestamp, c.timestamp, return_indices=True)
        vals = np.nan_to_num(oi[ib], nan=0.0)
        total[ia] += vals
        found = True
    return total if found else None


def _ratio(pred: np.ndarray, real: np.ndarray) -> float | None:
    r = float(real.sum())
    return None if r <= 0 else float(pred.sum()) / r


def score_window(
    report: SymbolReport,
    realised: Realised,
    oi_usd: np.ndarray | None,
    days: int,
    *,
    tf: str = SCORE_TIMEFRAME,
    floor_bars: int = FLOOR_BARS,
) -> Accuracy:
    """Score the last ``days`` days of ``report.results[tf]`` on the covered bars."""
    res = report.results[tf]
    candles = report.candles[tf]
    bar_ms = TIMEFRAME_MS[tf]
    ts = np.asarray(res.timestamp, dtype=np.int64)
    window = ts >= ts[-1] + bar_ms - days * 86_400_000
    bars = on_bars(realised, ts[window], bar_ms)
    cov = bars.covered
    n = int(cov.sum())
    if n < floor_bars:
        return Accuracy(days, n, bar_ms, floor_bars, bars.sources, None, None)
    # Baseline per bar: OI x the bar's move below / above its open (evaluate.baseline).
    _, ic, _ = np.intersect1d(candles.timestamp, ts[window], return_indices=True)
    o, h, lo = candles.open[ic], candles.high[ic], candles.low[ic]
    oi = None if oi_usd is None else oi_usd[window]
    out = {}
    for side, pred, base_move in (
        ("long", res.predicted_long, (o - lo) / o),
        ("short", res.predicted_short, (h - o) / o),
    ):
        p = np.asarray(pred, dtype=np.float64)[window][cov]
        real = (bars.long_usd if side == "long" else bars.short_usd)[cov]
        base = None if oi is None else (oi * base_move)[cov]
        out[side] = SideScore(
            logcorr=log_corr(p, real),
            baseline_logcorr=None if base is None else log_corr(base, real),
            top10=top_decile_capture(p, real),
            baseline_top10=None if base is None else top_decile_capture(base, real),
            pred_to_real_usd=_ratio(p, real),
        )
    return Accuracy(days, n, bar_ms, floor_bars, bars.sources, out["long"], out["short"])


def with_realised(
    report: SymbolReport, series: Sequence[MarketSeries], realised: Realised | None
) -> SymbolReport:
    """``report`` carrying its realised liquidations and the 7- and 30-day live accuracy."""
    if realised is None:
        return report
    tf = SCORE_TIMEFRAME if SCORE_TIMEFRAME in report.results else next(iter(report.results))
    ts = np.asarray(report.results[tf].timestamp, dtype=np.int64)
    oi = open_interest_on(series, ts, tf)
    scores = tuple(score_window(report, realised, oi, d, tf=tf) for d in WINDOWS_DAYS)
    return replace(report, realised=realised, accuracy=scores)
