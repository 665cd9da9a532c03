"""Adapter (series -> model input), aggregation, clusters and cumulative curves."""

from __future__ import annotations

import numpy as np
import pytest

from sitegen.model import (
    ModelParams,
    ModelResult,
    aggregate,
    align_open_interest,
    clusters,
    cumulative,
    model_input,
    price_grid,
    run_model,
)
from sitegen.series import Candles, LeverageTier, MarketSeries, OpenInterest

M5 = 300_000
H1 = 3_600_000


def _candles(n: int, volume: np.ndarray, start: int = 0) -> Candles:
    ts = start + np.arange(n, dtype=np.int64) * M5
    px = np.full(n, 100.0)
    return Candles("5m", ts, px, px * 1.001, px * 0.999, px, volume)


def test_hourly_open_interest_spread_over_5m_bars_by_volume() -> None:
    vol = np.concatenate([np.ones(12), np.ones(6), 3 * np.ones(6)])
    c = _candles(24, vol)
    oi = OpenInterest("1h", np.array([0, H1], np.int64), np.array([1000.0, 2000.0]))
    got = align_open_interest(c.timestamp, M5, c.volume, oi)
    assert np.isnan(got[:11]).all()  # before the first known value (end of hour 0)
    assert got[11] == 1000.0  # bar closing at 01:00
    assert got[12] == pytest.approx(1000 + 1000 / 24)
    assert got[17] == pytest.approx(1250.0)  # a quarter of the hour's volume traded by 01:30
    assert got[23] == 2000.0


def test_snapshot_open_interest_is_taken_at_its_own_time() -> None:
    c = _candles(24, np.ones(24))
    oi = OpenInterest("1h", np.array([H1, 2 * H1], np.int64), np.array([1000.0, 2000.0]), at_close=False)
    got = align_open_interest(c.timestamp, M5, c.volume, oi)
    assert got[11] == 1000.0 and got[23] == 2000.0 and got[17] == pytest.approx(1500.0)


def test_open_interest_gap_and_no_volume() -> None:
    c = _candles(36, np.zeros(36))
    oi = OpenInterest("1h", np.array([0, 2 * H1], np.int64), np.array([1000.0, 4000.0]))
    got = align_open_interest(c.timestamp, M5, c.volume, oi)
    assert got[11] == 1000.0 and got[35] == 4000.0
    assert np.isnan(got[12:35]).all()  # two hours between values: a gap, unknown
    oi2 = OpenInterest("1h", np.array([0, H1], np.int64), np.array([1000.0, 2000.0]))
    got2 = align_open_interest(c.timestamp, M5, c.volume, oi2)
    assert got2[17] == pytest.approx(1500.0)  # no volume: linear in time


def test_model_input_from_series_uses_tiers_and_margin_form() -> None:
    c = _candles(48, np.ones(48))
    oi = OpenInterest("1h", np.arange(0, 4 * H1, H1, dtype=np.int64), np.array([1e6, 2e6, 3e6, 4e6]))
    tiers = (LeverageTier(0, 50_000, 0.004, 0, 125), LeverageTier(50_000, 600_000, 0.005, 50, 100))
    s = MarketSeries("bybit", "BTC/USDT:USDT", {"5m": c}, oi, None, tiers, "sample")
    inp = model_input(s, "5m", margin_form="bybit")  # the form comes from the bybit adapter
    assert inp.margin_form == "bybit" and inp.exchange == "bybit" and inp.bar_ms == M5
    assert inp.tiers is not None and inp.tiers.shape == (2, 5)
    assert inp.oi_usd[23] == 2e6
    no_tiers = MarketSeries("bybit", "BTC/USDT:USDT", {"5m": c}, None, None, (), "sample")
    inp2 = model_input(no_tiers, "5m")
    assert inp2.oi_usd is None and inp2.tiers is not None  # packaged Bybit table
    with pytest.raises(ValueError, match="no 1h candles"):
        model_input(s, "1h")


def test_sample_series_runs_end_to_end() -> None:
    from sitegen.sources.sample import load_sample

    s = load_sample("BTC/USDT:USDT")
    inp = model_input(s, "1h")
    assert np.isfinite(inp.oi_usd).mean() > 0.99
    r = run_model(inp, ModelParams(), keep_last=100)
    assert not r.volume_model and r.heat_long.shape[0] == 100
    assert r.map_long.sum() > 0 and r.map_short.sum() > 0


def _result(ts: list[int], heat: float, edges: np.ndarray, exchange: str) -> ModelResult:
    t, b = len(ts), edges.shape[0] - 1
    h = np.full((t, b), heat, np.float32)
    return ModelResult(
        timestamp=np.array(ts, np.int64), close=np.full(t, 100.0), price_edges=edges,
        heat_long=h, heat_short=h.copy(), heat_long_by_leverage=h[None].copy(),
        heat_short_by_leverage=h[None].copy(), predicted_long=np.ones(t), predicted_short=np.ones(t),
        leverages=(10.0,), params=ModelParams(), volume_model=False, exchanges=(exchange,),
    )


def test_aggregate_sums_on_the_union_of_bars() -> None:
    edges = price_grid(90, 110, 1.0)
    a = _result([0, 1, 2], 1.0, edges, "binanceusdm")
    b = _result([1, 2, 3], 10.0, edges, "okx")
    g = aggregate([a, b])
    assert g.timestamp.tolist() == [0, 1, 2, 3]
    assert g.heat_long[:, 0].tolist() == [1, 11, 11, 11]  # binance's last row carries to bar 3
    assert g.predicted_long.tolist() == [1, 2, 2, 1]
    assert g.exchanges == ("binanceusdm", "okx")
    assert g.heat_long_by_leverage.shape == (1, 4, edges.shape[0] - 1)
    other = _result([0], 1.0, price_grid(80, 110, 1.0), "okx")
    with pytest.raises(ValueError, match="same price grid"):
        aggregate([a, other])
    assert aggregate([a]) is a


def _map_result(long_map: np.ndarray, short_map: np.ndarray, edges: np.ndarray, close: float) -> ModelResult:
    r = _result([0], 0.0, edges, "x")
    return ModelResult(
        **{**r.__dict__, "heat_long": long_map[None].astype(np.float32),
           "heat_short": short_map[None].astype(np.float32), "close": np.array([close])}
    )


def test_clusters_merge_adjacent_rows_into_bands() -> None:
    edges = price_grid(90, 110, 0.1)
    b = edges.shape[0] - 1
    centers = np.sqrt(edges[:-1] * edges[1:])
    long_map = np.zeros(b)
    short_map = np.zeros(b)
    i95 = int(np.argmin(np.abs(centers - 95)))
    long_map[i95 - 1 : i95 + 2] = [1.0, 4.0, 1.0]  # one band of 6 around 95
    i97 = int(np.argmin(np.abs(centers - 97)))
    long_map[i97] = 2.0
    i105 = int(np.argmin(np.abs(centers - 105)))
    short_map[i105] = 9.0
    res = _map_result(long_map, short_map, edges, 100.0)
    got = clusters(res, top=10, min_gap_pct=0.5)
    assert [(c.side, round(c.usd, 6)) for c in got] == [("short", 9.0), ("long", 6.0), ("long", 2.0)]
    assert got[1].price == pytest.approx(centers[i95], rel=1e-6)
    assert got[1].distance_pct == pytest.approx((got[1].price / 100 - 1) * 100, rel=1e-9)
    assert len(clusters(res, top=1)) == 1
    # a wide gap merges the two long bands into one
    wide = clusters(res, top=10, min_gap_pct=3.0)
    assert [round(c.usd, 6) for c in wide if c.side == "long"] == [8.0]


def test_cumulative_hand_computed() -> None:
    edges = np.array([80.0, 90.0, 100.0, 110.0, 120.0])
    res = _map_result(np.array([1.0, 2.0, 0.0, 5.0]), np.array([7.0, 0.0, 3.0, 4.0]), edges, 101.0)
    cl, cs = cumulative(res)
    assert cl.tolist() == [3.0, 2.0, 0.0, 0.0]  # close is in row 2 (100-110)
    assert cs.tolist() == [0.0, 0.0, 3.0, 7.0]


def test_two_exchanges_on_one_grid_add_up() -> None:
    from dataclasses import replace

    from sitegen.sources.sample import load_sample

    s = load_sample("BTC/USDT:USDT")
    binance = replace(s, candles={"1h": s.candles["1h"].tail(300)})
    bybit = replace(binance, exchange="bybit", tiers=())  # packaged Bybit tiers, Bybit formula
    a_in, b_in = model_input(binance, "1h"), model_input(bybit, "1h", margin_form="bybit")
    assert (a_in.margin_form, b_in.margin_form) == ("binance", "bybit")
    edges = price_grid(60_000, 130_000, 0.2)
    a = run_model(a_in, ModelParams(), edges)
    b = run_model(b_in, ModelParams(), edges)
    assert not np.array_equal(a.heat_long, b.heat_long)  # different formulas, different rows
    g = aggregate([a, b])
    assert g.exchanges == ("binanceusdm", "bybit")
    assert np.allclose(g.heat_long, a.heat_long + b.heat_long)
    assert np.allclose(g.predicted_short, a.predicted_short + b.predicted_short)
    cl, cs = cumulative(g)
    k = int(np.searchsorted(edges, g.close[-1]))  # rows below and at the close
    assert cl[0] == pytest.approx(float(g.map_long[:k].sum()), rel=1e-6)
    assert cs[-1] == pytest.approx(float(g.map_short[k - 1 :].sum()), rel=1e-6)
