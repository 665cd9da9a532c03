"""Realised liquidations: per-bar totals and coverage, the live accuracy score, the data file
blocks, on hand-computed numbers and on the embedded sample."""

from __future__ import annotations

import gzip
import json
from importlib import resources

import numpy as np
import pytest
from jsonschema import Draft202012Validator

from sitegen import schemas
from sitegen.accuracy import FLOOR_BARS, with_realised
from sitegen.build import analyse_symbol
from sitegen.config import load_config
from sitegen.liquidations import BarTotals, Liquidation, Realised, Span, bucket_events, on_bars
from sitegen.model.metrics import log_corr, top_decile_capture
from sitegen.render.realised_data import accuracy_block, realised_block
from sitegen.sources.sample import load_sample, load_sample_realised


def validate(value: object, key: str) -> list[str]:
    """Problems of one block of data/<slug>.json against its part of the published schema."""
    v = Draft202012Validator(schemas.schema("symbol")["properties"][key])
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(value)]

H = 3_600_000


def ev(ts: int, side: str, usd: float, exchange: str = "binanceusdm") -> Liquidation:
    return Liquidation(exchange, "BTC/USDT:USDT", ts, side, 100.0, usd / 100.0, usd, "test")


def test_bucket_events_sums_per_side_and_drops_outside() -> None:
    ts = np.array([0, H, 2 * H])
    events = [ev(10, "long", 5.0), ev(H - 1, "short", 7.0), ev(H, "long", 1.0), ev(3 * H, "long", 99.0)]
    lng, sht = bucket_events(events, ts, H)
    assert lng.tolist() == [5.0, 1.0, 0.0] and sht.tolist() == [7.0, 0.0, 0.0]


def test_span_coverage_needs_nine_tenths_of_a_bar() -> None:
    from sitegen.liquidations import span_coverage

    ts = np.array([0, H, 2 * H])
    # Two recordings of 55 minutes with a 5-minute gap, as the hourly publishing job makes.
    spans = [Span("okx", "a", 0, H + 15 * 60_000), Span("okx", "a", H + 20 * 60_000, 2 * H + 15 * 60_000)]
    assert span_coverage(spans, ts, H).tolist() == [True, True, False]
    assert span_coverage(spans, ts, H, share=1.0).tolist() == [True, False, False]


def test_on_bars_counts_only_listened_bars_and_prefers_totals() -> None:
    ts = np.arange(4) * H
    events = [ev(H + 5, "long", 3.0), ev(2 * H + 5, "short", 4.0), ev(3 * H + 5, "long", 8.0)]
    # Listening from the start of bar 1 to the middle of bar 3: bars 1 and 2 are covered
    # (bar 3 was heard for half its length, under the 90 % rule).
    spans = (Span("binanceusdm", "test", H, 3 * H + H // 2),)
    totals = (BarTotals("agg", H, np.array([2 * H]), np.array([10.0]), np.array([20.0])),)
    bars = on_bars(Realised("BTC/USDT:USDT", tuple(events), spans, totals), ts, H)
    assert bars.covered.tolist() == [False, True, True, False]
    assert bars.long_usd.tolist() == [0.0, 3.0, 10.0, 0.0]  # bar 2 from the aggregate
    assert bars.short_usd.tolist() == [0.0, 0.0, 20.0, 0.0]
    assert bars.sources == ("agg", "test")
    # Two-hour bars from hourly totals: only where both hours are there.
    two = on_bars(Realised("x", totals=(BarTotals("agg", H, np.array([0, H, 2 * H]), np.ones(3), np.ones(3)),)),
                  np.array([0, 2 * H]), 2 * H)
    assert two.covered.tolist() == [True, False] and two.long_usd[0] == 2.0


@pytest.fixture(scope="module")
def btc():
    config = load_config(None, symbols=["BTC/USDT:USDT"])
    series = [load_sample("BTC/USDT:USDT")]
    report = analyse_symbol("BTC/USDT:USDT", series, config)
    return with_realised(report, series, load_sample_realised("BTC/USDT:USDT")), series


def test_live_accuracy_is_the_evaluate_metric_on_recorded_hours(btc) -> None:  # type: ignore[no-untyped-def]
    report, _ = btc
    week, month = report.accuracy
    assert (week.window_days, week.bars, month.window_days) == (7, 168, 30)
    assert month.bars >= 700 and week.enough and month.enough
    # Recompute the 7-day long score from the raw files: the hourly realised column of the
    # packaged calibration CSV against the model's hourly predicted series.
    text = gzip.decompress(resources.files("sitegen.sample").joinpath("calibration_btc_1h.csv.gz").read_bytes())
    rows = [r.split(",") for r in text.decode().splitlines()[1:]]
    real = {int(r[0]): float(r[6]) for r in rows}
    res = report.results["1h"]
    ts = res.timestamp[-168:]
    pred = res.predicted_long[-168:]
    realised = np.array([real[int(t)] for t in ts])
    assert week.long.logcorr == pytest.approx(log_corr(pred, realised))
    assert week.long.top10 == pytest.approx(top_decile_capture(pred, realised))
    assert week.long.pred_to_real_usd == pytest.approx(pred.sum() / realised.sum())
    assert week.sources == ("Coinglass hourly aggregate (Binance + Bybit + OKX)",)


def test_not_enough_data_below_the_floor() -> None:
    config = load_config(None, symbols=["ETH/USDT:USDT"])
    series = [load_sample("ETH/USDT:USDT")]
    report = with_realised(analyse_symbol("ETH/USDT:USDT", series, config), series,
                           load_sample_realised("ETH/USDT:USDT"))
    week, month = report.accuracy
    assert week.bars == 0 and not week.enough and week.long is None
    assert 0 < month.bars < FLOOR_BARS and not month.enough  # the one recorded hour of 2026-01-06
    block = accuracy_block(month)
    assert block["long"] is None and block["enough_data"] is False and block["floor_bars"] == FLOOR_BARS
    assert validate(block, "accuracy") == []


def test_data_blocks_match_the_schema_and_flag_bad_values(btc) -> None:  # type: ignore[no-untyped-def]
    report, _ = btc
    res = report.results["5m"]
    block = realised_block(report.realised, res.timestamp[-288:], 300_000)
    assert block is not None and len(block["timestamp_ms"]) == 288
    assert all(v is None for v in block["long_usd"])  # hourly totals do not resolve 5-minute bars
    hourly = block["hourly"]
    assert len(hourly["timestamp_ms"]) == 25 and all(v is not None for v in hourly["long_usd"][1:])
    acc = accuracy_block(report.accuracy[0])
    assert validate(block, "realised") == [] and validate(acc, "accuracy") == []
    bad = json.loads(json.dumps(acc))
    bad["long"]["logcorr"] = "high"
    bad["bars"] = -1
    problems = validate(bad, "accuracy")
    assert any("logcorr" in p for p in problems) and any("bars" in p for p in problems)


def test_snapshots_carry_the_score_and_feed_the_history(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sitegen.site.snapshots import accuracy_history, snapshot_of
    from sitegen.site.writer import MARKER

    data = {
        "symbol": "BTC/USDT:USDT", "slug": "btc-usdt", "as_of": "2026-01-29T17:10:00Z",
        "liquidation_map": {"price_low": [1.0], "price_high": [2.0], "long_usd": [3.0], "short_usd": [0.0]},
        "accuracy": {"window_days": 7, "bars": 168, "sources": ["x"],
                     "long": {"logcorr": 0.67, "baseline_logcorr": 0.43, "top10": 0.8, "pred_to_real_usd": 5.0},
                     "short": None},
    }
    snap = snapshot_of(data, "2026-01-29T17")
    assert snap["accuracy"] == {"bars": 168, "sources": ["x"], "long": 0.67, "long_base": 0.43,
                                "short": None, "short_base": None}
    site = tmp_path / "site"
    (site / "snapshots" / "2026-01-29T17").mkdir(parents=True)
    (site / MARKER).write_text("")
    (site / "snapshots" / "2026-01-29T17" / "btc-usdt.json").write_text(json.dumps(snap))
    rows = accuracy_history(site)
    assert rows == ({"hour": "2026-01-29T17", "symbol": "BTC/USDT:USDT", **snap["accuracy"]},)
    assert accuracy_history(tmp_path / "nothing") == ()


def test_a_recording_without_liquidations_scores_zeros_not_nothing() -> None:
    quiet = Realised("BTC/USDT:USDT", spans=(Span("okx", "okx:liquidation-orders", 0, 10 * H),))
    assert quiet  # listened: the hours are real zeros
    bars = on_bars(quiet, np.arange(10) * H, H)
    assert bars.covered.all() and bars.long_usd.sum() == 0 and bars.sources == ("okx:liquidation-orders",)
