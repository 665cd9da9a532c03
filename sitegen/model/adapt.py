"""Market series -> model input: candles of one timeframe with open interest aligned to them."""

from __future__ import annotations

import logging

import numpy as np

from sitegen.model.liqprice import MARGIN_FORMS, tier_table
from sitegen.model.tiers import packaged_tiers
from sitegen.model.types import ModelInput
from sitegen.series import TIMEFRAME_MS, MarketSeries, OpenInterest

log = logging.getLogger(__name__)


def _period_ms(timestamps: np.ndarray, timeframe: str) -> int:
    if timeframe in TIMEFRAME_MS:
        return TIMEFRAME_MS[timeframe]
    if timestamps.shape[0] > 1:
        return int(np.median(np.diff(timestamps)))
    raise ValueError(f"unknown timeframe {timeframe!r} (known: {', '.join(TIMEFRAME_MS)})")


def align_open_interest(
    bar_open: np.ndarray, bar_ms: int, volume: np.ndarray, oi: OpenInterest
) -> np.ndarray:
    """Open interest (USD) at the close of each bar, float64 (T,), NaN where unknown.

    Each OI value is the open interest at the *end* of its period (``timestamp + period``),
    or at ``timestamp`` itself when ``oi.at_close`` is False (exchange snapshots).
    A bar closing exactly on such a time takes that value. A bar closing inside a period
    (e.g. 5m bars inside an hourly OI period) gets the period's start value plus the
    period's change times the share of the period's traded volume done so far, so new
    positions appear where volume traded (linear in time when the period had no volume).
    Bars before the first value, after the last, or inside a gap between two values that are
    not exactly one period apart get NaN (the model then uses its volume fallback there).
    """
    ts = np.asarray(oi.timestamp, dtype=np.int64)
    val = np.asarray(oi.value_usd, dtype=np.float64)
    n = ts.shape[0]
    x = np.asarray(bar_open, dtype=np.int64) + bar_ms  # bar close times
    out = np.full(x.shape[0], np.nan)
    if n == 0 or x.shape[0] == 0:
        return out
    order = np.argsort(ts, kind="stable")
    ts, val = ts[order], val[order]
    period = _period_ms(ts, oi.timeframe)
    t_obs = ts + period if getattr(oi, "at_close", True) else ts
    i = np.searchsorted(t_obs, x, side="left")  # first observation at or after the close
    inside = i < n
    ii = np.minimum(i, n - 1)
    exact = inside & (t_obs[ii] == x)
    out[exact] = val[ii[exact]]
    mid = inside & ~exact & (i >= 1)
    if np.any(mid):
        i1 = ii[mid]
        i0 = i1 - 1
        t0, t1 = t_obs[i0], t_obs[i1]
        v0, v1 = val[i0], val[i1]
        # cumulative volume as a function of time: 0 at the first bar's open
        vol = np.nan_to_num(np.asarray(volume, dtype=np.float64), nan=0.0)
        xp = np.concatenate([[x[0] - bar_ms], x]).astype(np.float64)
        fp = np.concatenate([[0.0], np.cumsum(vol)])
        c0, c1 = np.interp(t0, xp, fp), np.interp(t1, xp, fp)
        cx = np.interp(x[mid], xp, fp)
        span = c1 - c0
        by_time = (x[mid] - t0) / (t1 - t0)
        frac = np.where(span > 0, (cx - c0) / np.where(span > 0, span, 1.0), by_time)
        frac = np.clip(frac, 0.0, 1.0)
        value = v0 + (v1 - v0) * frac
        value[(t1 - t0) != period] = np.nan  # a gap in the OI history: unknown
        out[np.flatnonzero(mid)] = value
    return out


def gross_open_interest_flows(
    bar_open: np.ndarray, bar_ms: int, oi: OpenInterest
) -> tuple[np.ndarray, np.ndarray] | None:
    """Gross rises and falls of open interest inside each bar from finer open interest.

    Returns (up, down) USD (T,), the sums of the positive and of the negative changes between
    consecutive finer observations that fall inside the bar (the change into the bar's first
    step included), NaN where the bar is not fully covered by consecutive steps. None when the
    open interest is not finer than the bars (the model then uses the net change).
    """
    ts = np.asarray(oi.timestamp, dtype=np.int64)
    if ts.shape[0] < 2:
        return None
    order = np.argsort(ts, kind="stable")
    ts = ts[order]
    val = np.asarray(oi.value_usd, dtype=np.float64)[order]
    period = _period_ms(ts, oi.timeframe)
    if period >= bar_ms or bar_ms % period:
        return None
    t_obs = ts + period if getattr(oi, "at_close", True) else ts
    step = np.diff(val)
    ok = (np.diff(t_obs) == period) & np.isfinite(step)
    at = t_obs[1:]  # each change ends at an observation time
    opens = np.asarray(bar_open, dtype=np.int64)
    # the bar whose (open, close] holds the change's end time
    bar = np.searchsorted(opens + bar_ms, at, side="left")
    inside = (bar < opens.shape[0]) & (at > opens[np.minimum(bar, opens.shape[0] - 1)])
    n = opens.shape[0]
    b = bar[inside & ok]
    s = step[inside & ok]
    up = np.bincount(b, weights=np.maximum(s, 0.0), minlength=n)
    down = np.bincount(b, weights=np.maximum(-s, 0.0), minlength=n)
    count = np.bincount(b, minlength=n)
    full = count == bar_ms // period
    return np.where(full, up, np.nan), np.where(full, down, np.nan)


def model_input(series: MarketSeries, timeframe: str, *, margin_form: str = "binance") -> ModelInput:
    """Candles of ``timeframe`` with open interest aligned to their closes; tiers -> TierTable.

    Where the open interest is finer than the bars (e.g. 5m open interest under 1h bars) the
    bars also carry its gross rises and falls (:func:`gross_open_interest_flows`).

    ``margin_form`` is the exchange's liquidation-price form (one of
    :data:`~sitegen.model.liqprice.MARGIN_FORMS`), given by its adapter in ``sources/``.

    Tier table: the series' own tiers (live from the exchange) when present, else the table
    shipped in ``sitegen/model/tiers/`` for the exchange and symbol, else None (0.4 %).
    """
    if margin_form not in MARGIN_FORMS:
        raise ValueError(f"margin_form must be one of {MARGIN_FORMS}, got {margin_form!r}")
    if timeframe not in series.candles:
        raise ValueError(
            f"{series.exchange} {series.symbol}: no {timeframe} candles "
            f"(have {', '.join(series.candles) or 'none'})"
        )
    c = series.candles[timeframe]
    bar_ms = _period_ms(np.asarray(c.timestamp), timeframe)
    oi = None
    gross = None
    if series.open_interest is not None and len(series.open_interest.timestamp) > 0:
        oi = align_open_interest(c.timestamp, bar_ms, c.volume, series.open_interest)
        gross = gross_open_interest_flows(np.asarray(c.timestamp), bar_ms, series.open_interest)
    last = float(c.close[-1]) if len(c) else None
    tiers = tier_table(series.tiers) if series.tiers else None
    if tiers is None:
        tiers = packaged_tiers(series.exchange, series.symbol, last)
        if tiers is None:
            log.info("%s %s: no tier table; using 0.4 %% maintenance", series.exchange, series.symbol)
    return ModelInput(
        timestamp=np.asarray(c.timestamp, dtype=np.int64),
        open=np.asarray(c.open, dtype=np.float64),
        high=np.asarray(c.high, dtype=np.float64),
        low=np.asarray(c.low, dtype=np.float64),
        close=np.asarray(c.close, dtype=np.float64),
        volume=np.asarray(c.volume, dtype=np.float64),
        oi_usd=oi,
        oi_up_usd=None if gross is None else gross[0],
        oi_down_usd=None if gross is None else gross[1],
        taker_buy_volume=None if c.taker_buy_volume is None else np.asarray(c.taker_buy_volume, float),
        tiers=tiers,
        bar_ms=bar_ms,
        margin_form=margin_form,
        exchange=series.exchange,
    )
