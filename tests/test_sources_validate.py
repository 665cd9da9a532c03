"""Pure parts of the live source: input checks, gap finding, tier conversion, symbol
resolution, and the policy for every ccxt error class."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import ccxt
import pytest
from ccxt.base.errors import error_hierarchy

from sitegen.sources.exchanges import (
    UnknownSymbol,
    classify_error,
    resolve_symbol,
    status_in_message,
)
from sitegen.sources.validate import clean_candles, clean_points, find_gaps, tiers_binance_form

STEP = 300_000
T = 1_768_608_000_000


def bar(i: int, o: float = 100.0, h: float = 101.0, lo: float = 99.0, c: float = 100.5, v: float = 1.0):
    return [T + i * STEP, o, h, lo, c, v]


def test_clean_candles_keeps_good_bars_unchanged() -> None:
    rows, notes = clean_candles([bar(0), bar(1), bar(2)], STEP)
    assert rows == [(T + i * STEP, 100.0, 101.0, 99.0, 100.5, 1.0, None) for i in range(3)]
    assert notes == []


@pytest.mark.parametrize(
    ("bad", "note"),
    [
        (bar(1, c=math.nan), "NaN, zero or negative price"),
        (bar(1, o=0.0), "NaN, zero or negative price"),
        (bar(1, lo=-5.0), "NaN, zero or negative price"),
        ([T + STEP, None, 1, 1, 1, 1], "NaN, zero or negative price"),
        (bar(1, h=98.0), "high/low do not contain"),
        (bar(1, c=102.0), "high/low do not contain"),
        (bar(1, v=-1.0), "negative volume"),
        ([T + STEP + 7, 100.0, 101.0, 99.0, 100.5, 1.0], "not aligned"),
    ],
)
def test_clean_candles_rejects_bad_bars_with_a_reason(bad: list, note: str) -> None:
    rows, notes = clean_candles([bar(0), bad, bar(2)], STEP)
    assert [r[0] for r in rows] == [T, T + 2 * STEP]
    assert any(note in n for n in notes)


def test_clean_candles_sorts_merges_duplicates_and_drops_the_open_bar() -> None:
    raw = [bar(2), bar(0), bar(1, c=100.0), bar(1, c=100.7), bar(3)]
    rows, notes = clean_candles(raw, STEP, closed_before_ms=T + 3 * STEP + 1)
    assert [r[0] for r in rows] == [T, T + STEP, T + 2 * STEP]  # bar 3 is still open
    assert rows[1][4] == 100.7  # the last copy wins
    assert any("duplicated" in n for n in notes) and any("out of order" in n for n in notes)


def test_find_gaps_gives_first_and_last_missing_point() -> None:
    ts = [T, T + STEP, T + 4 * STEP, T + 5 * STEP, T + 7 * STEP]
    assert find_gaps(ts, STEP) == [(T + 2 * STEP, T + 3 * STEP), (T + 6 * STEP, T + 6 * STEP)]
    assert find_gaps([], STEP) == [] and find_gaps([T], STEP) == []


def test_clean_points_allows_negative_funding_but_not_open_interest() -> None:
    pts, _ = clean_points([(1, -0.0001), (2, 0.0002)], allow_negative=True, what="funding")
    assert pts == [(1, -0.0001), (2, 0.0002)]
    pts, notes = clean_points([(1, -5.0), (2, math.inf), (3, 7.0)], allow_negative=False, what="oi")
    assert pts == [(3, 7.0)] and "dropped 2 oi" in notes[0]


def test_tier_conversion_matches_bybits_published_deductions() -> None:
    path = Path(__file__).parent / "data" / "exchange" / "bybit_BTCUSDT_risk_limit.csv"
    with path.open() as f:
        rows = list(csv.DictReader(f))
    brackets, floor = [], 0.0
    for r in rows:
        cap = float(r["risk_limit_usdt"])
        brackets.append((floor, cap, float(r["maintenance_margin_rate"]), float(r["max_leverage"])))
        floor = cap
    out = tiers_binance_form(brackets)
    assert [t[3] for t in out] == pytest.approx([float(r["mm_deduction_usdt"]) for r in rows])
    # Hand check of tier 2: 2,000,000 x (0.0056 - 0.005) = 1,200.
    assert out[1][3] == pytest.approx(1_200.0)


def test_symbol_resolution_rule() -> None:
    listed = {"BTC/USDC:USDC": {"swap": True}, "ETH/USDC:USDC": {"swap": True}}
    assert resolve_symbol("hyperliquid", "BTC/USDT:USDT", listed) == "BTC/USDC:USDC"
    with pytest.raises(UnknownSymbol, match="nearest listed: 'BTC/USDC:USDC'"):
        resolve_symbol("binanceusdm", "BTC/USDT:USDT", listed)  # only Hyperliquid maps settle
    listed = {"BTC/USDT:USDT": {"swap": True}, "BTC/USDT": {"spot": True}}
    assert resolve_symbol("okx", "BTC/USDT:USDT", listed) == "BTC/USDT:USDT"
    with pytest.raises(UnknownSymbol, match=r"'BTCC/USDT:USDT' is not listed .*'BTC/USDT:USDT'"):
        resolve_symbol("okx", "BTCC/USDT:USDT", listed)


def _all_ccxt_errors() -> list[type[BaseException]]:
    out: list[type[BaseException]] = []

    def walk(tree: dict) -> None:
        for name, sub in tree.items():
            out.append(getattr(ccxt, name))
            walk(sub)

    walk(error_hierarchy)
    return out


EXPECTED = {
    "RateLimitExceeded": "rate", "DDoSProtection": "rate", "BadSymbol": "symbol",
    "RestrictedLocation": "geo", "RequestTimeout": "retry", "ExchangeNotAvailable": "retry",
    "OnMaintenance": "retry", "NetworkError": "retry", "BadResponse": "retry",
    "NullResponse": "retry", "InvalidNonce": "retry", "ChecksumError": "retry",
    "AuthenticationError": "fatal", "PermissionDenied": "fatal", "NotSupported": "fatal",
    "BadRequest": "fatal", "ExchangeError": "fatal", "ArgumentsRequired": "fatal",
}


@pytest.mark.parametrize("cls", _all_ccxt_errors(), ids=lambda c: c.__name__)
def test_every_ccxt_error_class_has_a_policy(cls: type[BaseException]) -> None:
    kind = classify_error(cls("x"), "okx", None)
    assert kind in ("geo", "rate", "retry", "symbol", "fatal")
    if cls.__name__ in EXPECTED:
        assert kind == EXPECTED[cls.__name__]


@pytest.mark.parametrize(
    ("exchange", "status", "cls", "kind"),
    [
        ("binanceusdm", 451, ccxt.ExchangeNotAvailable, "geo"),
        ("bybit", 403, ccxt.ExchangeNotAvailable, "geo"),
        ("okx", 403, ccxt.ExchangeNotAvailable, "fatal"),  # not a regional block there
        ("okx", 404, ccxt.ExchangeNotAvailable, "fatal"),
        ("okx", 503, ccxt.ExchangeError, "retry"),
        ("binanceusdm", 418, ccxt.ExchangeError, "rate"),
        ("okx", None, ValueError, "retry"),  # an answer ccxt could not parse
    ],
)
def test_http_status_refines_the_policy(exchange: str, status: int | None, cls: type, kind: str) -> None:
    assert classify_error(cls("x"), exchange, status) == kind


def test_error_descriptions_hide_url_credentials() -> None:
    from sitegen.sources.exchanges import describe_error

    try:
        try:
            raise OSError("Cannot connect to proxy http://bob:hunter2@10.9.8.7:3128/")
        except OSError as cause:
            raise ccxt.ExchangeNotAvailable("okx GET https://www.okx.com/api") from cause
    except ccxt.ExchangeNotAvailable as e:
        text = describe_error(e)
    assert "hunter2" not in text and "http://***@10.9.8.7:3128" in text
    assert text.startswith("ExchangeNotAvailable: okx GET https://www.okx.com/api (OSError: ")


def test_status_is_read_from_ccxts_message() -> None:
    e = ccxt.ExchangeNotAvailable("binanceusdm GET https://fapi.binance.com/fapi/v1/exchangeInfo 451 ")
    assert status_in_message(e) == 451
    assert status_in_message(ccxt.ExchangeError("okx {}")) is None
