"""Binance USDⓈ-M futures."""

from __future__ import annotations

from typing import Any

from sitegen.sources.adapters.base import Adapter, Profile


def parse_kline(r: Any) -> list[Any]:
    """``[openTime, o, h, l, c, v, closeTime, quoteVol, trades, takerBuyBase, ...]`` -> the
    row ``clean_candles`` reads (strings to numbers; anything unreadable becomes None)."""

    def num(i: int) -> float | None:
        try:
            return float(r[i])
        except (TypeError, ValueError, IndexError):
            return None

    ts = r[0] if isinstance(r, list) and r and isinstance(r[0], int) else None
    return [ts, num(1), num(2), num(3), num(4), num(5), num(9)]


async def candle_page(session: Any, client: Any, market: str, label: str, tf: str, since: int, until: int,
                      lim: int) -> list[Any]:
    """Klines read raw: they carry the taker-buy volume (the model's "taker" side attribution
    uses it), which ccxt's fetch_ohlcv drops."""
    market_id = client.market(market)["id"]
    raw = await session.call(
        label, client.fapiPublicGetKlines,
        {"symbol": market_id, "interval": tf, "startTime": since, "endTime": until, "limit": lim},
    )
    return [parse_kline(r) for r in raw] if isinstance(raw, list) else []


ADAPTER = Adapter(
    id="binanceusdm",
    # Klines weigh 2 up to 499 rows and 5 from 500: 499 rows is the cheapest per bar.
    # Open-interest statistics only go back 30 days; leverage brackets need an API key.
    # REQUEST_WEIGHT 2400/min documented; we use 1200.
    profile=Profile(499, "history", 500, 30, 1000, False, ("linear",), 60_000, 50),
    margin_form="binance",
    candle_page=candle_page,
)
