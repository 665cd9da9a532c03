"""The embedded real sample (``sitegen/sample/``): Binance USDⓈ-M BTC, ETH, SOL.

Read with the standard library and numpy only, so ``liqmap build --sample`` works offline.
"""

from __future__ import annotations

import csv
import gzip
import io
from datetime import datetime
from importlib import resources

import numpy as np

from sitegen.errors import SourceError
from sitegen.liquidations import BarTotals, Liquidation, Realised, Span, side_of_order
from sitegen.series import Candles, Funding, LeverageTier, MarketSeries, OpenInterest

EXCHANGE = "binanceusdm"
SAMPLE_SYMBOLS = ("BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT")


def _file_stem(symbol: str) -> str:
    base, _, rest = symbol.partition("/")
    return f"{EXCHANGE}_{base}-{rest.split(':')[0]}"


def _read_text(name: str) -> str | None:
    ref = resources.files("sitegen.sample").joinpath(name)
    if not ref.is_file():
        return None
    raw = ref.read_bytes()
    if name.endswith(".gz"):
        raw = gzip.decompress(raw)
    return raw.decode("utf-8")


def _iso_ms(text: str) -> int:
    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() * 1000)


def _candles(text: str, timeframe: str) -> Candles:
    rows = list(csv.DictReader(io.StringIO(text)))
    ts = np.array([_iso_ms(r["date"]) for r in rows], dtype=np.int64)
    cols = {k: np.array([float(r[k]) for r in rows]) for k in ("open", "high", "low", "close", "volume")}
    return Candles(timeframe, ts, **cols)


def _tiers(symbol: str) -> tuple[LeverageTier, ...]:
    text = _read_text("binanceusdm_leverage_brackets.csv")
    if text is None:
        return ()
    market_id = symbol.split("/")[0] + symbol.split("/")[1].split(":")[0]
    return tuple(
        LeverageTier(
            min_notional=float(r["notionalFloor"]),
            max_notional=float(r["notionalCap"]),
            mmr=float(r["maintMarginRatio"]),
            cum=float(r["cum"]),
            max_leverage=float(r["initialLeverage"]),
        )
        for r in csv.DictReader(io.StringIO(text))
        if r["symbol"] == market_id
    )


def load_sample(symbol: str) -> MarketSeries:
    """The recorded Binance series for ``symbol``; raises SourceError if it is not in the sample."""
    stem = _file_stem(symbol)
    candles = {}
    for tf in ("5m", "1h"):
        text = _read_text(f"{stem}_{tf}.csv.gz")
        if text is None:
            raise SourceError(
                f"{symbol}: not in the embedded sample (it has {', '.join(SAMPLE_SYMBOLS)}); "
                "build without --sample to fetch it live"
            )
        candles[tf] = _candles(text, tf)
    oi = None
    text = _read_text(f"{stem}_oi_1h.csv.gz")
    if text is not None:
        rows = list(csv.DictReader(io.StringIO(text)))
        # oi_close is the open interest at the end of the hour that opens at `timestamp`.
        oi = OpenInterest(
            "1h",
            np.array([int(r["timestamp"]) for r in rows], dtype=np.int64),
            np.array([float(r["oi_close"]) for r in rows]),
        )
    funding = None
    text = _read_text(f"{stem}_funding.csv.gz")
    if text is not None:
        rows = list(csv.DictReader(io.StringIO(text)))
        funding = Funding(
            np.array([_iso_ms(r["date"]) for r in rows], dtype=np.int64),
            np.array([float(r["open"]) for r in rows]),
        )
    return MarketSeries(EXCHANGE, symbol, candles, oi, funding, _tiers(symbol), source="sample")


FORCE_ORDERS_FILE = "binanceusdm_forceorders_2026-01-06.csv"
FORCE_ORDER_SOURCE = "Binance !forceOrder@arr stream (recorded 2026-01-06 10:33-12:17 UTC)"
CALIBRATION_FILE = "calibration_btc_1h.csv.gz"
HOURLY_SOURCE = "Coinglass hourly aggregate (Binance + Bybit + OKX)"
HOUR_MS = 3_600_000


def load_sample_realised(symbol: str) -> Realised:
    """The embedded realised liquidations of ``symbol``: recorded Binance force orders of
    2026-01-06 (BTC, ETH, SOL) and, for BTC, the hourly realised totals of the calibration file.
    """
    market_id = symbol.split("/")[0] + symbol.split("/")[1].split(":")[0]
    events: list[Liquidation] = []
    spans: list[Span] = []
    text = _read_text(FORCE_ORDERS_FILE)
    if text is not None:
        rows = list(csv.DictReader(io.StringIO(text)))
        for r in rows:
            if r["symbol"] != market_id:
                continue
            price, qty = float(r["price"]), float(r["base_qty"])
            events.append(Liquidation(
                EXCHANGE, symbol, int(r["timestamp_ms"]), side_of_order(r["side"]), price, qty,
                price * qty, FORCE_ORDER_SOURCE,
            ))
        if rows:
            # The recording listened to every symbol from its first event to its last.
            ts = [int(r["timestamp_ms"]) for r in rows]
            spans.append(Span(EXCHANGE, FORCE_ORDER_SOURCE, min(ts), max(ts) + 1))
    totals: list[BarTotals] = []
    if market_id == "BTCUSDT":
        text = _read_text(CALIBRATION_FILE)
        if text is not None:
            rows = list(csv.DictReader(io.StringIO(text)))
            totals.append(BarTotals(
                HOURLY_SOURCE, HOUR_MS,
                np.array([int(r["timestamp"]) for r in rows], dtype=np.int64),
                np.array([float(r["liq_long_usd"]) for r in rows]),
                np.array([float(r["liq_short_usd"]) for r in rows]),
            ))
    return Realised(symbol, tuple(events), tuple(spans), tuple(totals))


class SampleSource:
    """Serves the embedded sample through the same interface as the store."""

    name = "sample"
    exchanges = (EXCHANGE,)

    def load(self, exchange: str, symbol: str) -> MarketSeries:
        if exchange != EXCHANGE:
            raise SourceError(f"{exchange}: the embedded sample only has {EXCHANGE} data")
        return load_sample(symbol)

    def realised(self, symbol: str) -> Realised:
        return load_sample_realised(symbol)
