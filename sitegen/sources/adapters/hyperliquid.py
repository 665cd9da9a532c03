"""Hyperliquid perpetuals (USDC-settled)."""

from __future__ import annotations

from sitegen.sources.adapters.base import Adapter, Profile

ADAPTER = Adapter(
    id="hyperliquid",
    # An info call weighs 20 (candles 20 + 1 per 60 bars) of 1200 per minute: with every call
    # counted 10 ccxt units (min_call_cost), 110 ms -> 545 units/min = 54 calls a minute.
    # Open interest: a snapshot of every market, no history. Its maintenance margin is half
    # the initial margin at the market's max leverage.
    profile=Profile(5000, "snapshot", 0, None, 500, False, ("swap",), 60_000, 110, mmr_from_max_leverage=True),
    margin_form="binance",  # the Binance form with cum = 0
    settle_alias="USDC",
    # ccxt counts candleSnapshot 4 units, other info calls 10; Hyperliquid weighs them all at
    # least 20. Count them alike so the limiter's budget means what it says.
    min_call_cost=10,
    # Its candles are built from trades: an hour is exactly its twelve 5m bars. Requests are
    # what bound its fetch (54 a minute), so 1h updates come from the 5m answer.
    hours_from_5m=True,
)
