"""build.analyse_symbol and build.judge_freshness directly, on real sample series cut short:
what ranges a short history publishes, which exchanges and timeframes go in, and errors."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from sitegen.build import analyse_symbol, judge_freshness, model_params
from sitegen.config import load_config
from sitegen.errors import SourceError
from sitegen.series import TIMEFRAME_MS, MarketSeries
from sitegen.sources.sample import load_sample

BTC = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def btc() -> MarketSeries:
    return load_sample(BTC)


def cut(s: MarketSeries, **bars: int) -> MarketSeries:
    """Keep only the given timeframes, each its last N bars (and OI up to the last of them)."""
    return replace(s, candles={tf: s.candles[tf].tail(n) for tf, n in bars.items()})


def config(ranges: str = "12h,24h,3d,1w,1m,3m"):
    return load_config(None, ranges=ranges, symbols=BTC)


def test_a_day_of_5m_bars_publishes_the_ranges_it_covers(btc: MarketSeries) -> None:
    r = analyse_symbol(BTC, [cut(btc, **{"5m": 300})], config())
    assert r.ranges == ("12h", "24h")  # 3d needs 864 bars
    assert set(r.results) == {"5m"} and r.exchanges == ("binanceusdm",)
    last = btc.candles["5m"].timestamp[-1] + TIMEFRAME_MS["5m"]
    assert r.as_of == datetime.fromtimestamp(last / 1000, UTC)
    assert r.results["5m"].heat_long.shape[0] <= 300


def test_too_short_for_any_range_still_shows_the_shortest(btc: MarketSeries) -> None:
    r = analyse_symbol(BTC, [cut(btc, **{"5m": 40})], config())
    assert r.ranges == ("12h",)  # fewer bars than the range: shown with what there is
    assert r.results["5m"].heat_long.shape[0] == 40


def test_only_hourly_bars_give_the_hourly_ranges(btc: MarketSeries) -> None:
    r = analyse_symbol(BTC, [cut(btc, **{"1h": 800})], config())
    assert r.ranges == ("1m",) and set(r.results) == {"1h"}
    with pytest.raises(SourceError, match=r"none of the configured ranges \(12h, 24h\) can be shown"):
        analyse_symbol(BTC, [cut(btc, **{"1h": 800})], config("12h,24h"))  # they need 5m bars


def test_two_exchanges_share_one_grid_and_add_up(btc: MarketSeries) -> None:
    a = cut(btc, **{"5m": 300})
    b = replace(a, exchange="okx")
    r = analyse_symbol(BTC, [a, b], config())
    per = r.per_exchange["5m"]
    assert set(per) == {"binanceusdm", "okx"}
    assert np.array_equal(per["okx"].price_edges, per["binanceusdm"].price_edges)
    assert per["okx"].params == model_params(config())
    assert np.allclose(r.results["5m"].heat_long[-1], per["okx"].heat_long[-1] + per["binanceusdm"].heat_long[-1])


def test_no_candles_at_all_is_a_source_error(btc: MarketSeries) -> None:
    with pytest.raises(SourceError, match="no candles from any exchange"):
        analyse_symbol(BTC, [replace(btc, candles={})], config())


def test_freshness_is_judged_against_the_build_time(btc: MarketSeries) -> None:
    r = analyse_symbol(BTC, [cut(btc, **{"5m": 300})], config())
    assert judge_freshness(r, r.as_of + timedelta(hours=2), 2.0) is r
    old = judge_freshness(r, r.as_of + timedelta(hours=2, seconds=1), 2.0)
    assert old.stale and old.stale_since == r.as_of
