"""OKX perpetual swaps."""

from __future__ import annotations

from sitegen.sources.adapters.base import Adapter, Profile

ADAPTER = Adapter(
    id="okx",
    # history-candles returns at most 100 rows (candles 300, but only for recent bars).
    # Position tiers are public, sized in contracts: converted at the last close.
    profile=Profile(100, "history", 100, None, 100, True, ("swap",), 2_000, 125, tiers_in_contracts=True),
    margin_form="okx",
    # OKX limits each endpoint on its own: candles 40, history-candles 20, funding-rate-history
    # 10, rubik statistics 10, instruments 20, position-tiers 10 requests per 2 s (ccxt's cost
    # model says the same). We keep 10 % below each and count over 2.5 s: requests sent
    # together do not arrive together, and the exchange counts arrivals.
    endpoint_limits=(2.5, {
        "market/candles": 36,
        "market/history-candles": 18,
        "public/funding-rate-history": 9,
        "rubik/stat/contracts/open-interest-history": 9,
        "public/instruments": 18,
        "public/position-tiers": 9,
    }),
    # ccxt reads recent bars (the last 1440) from /market/candles: 300 rows a page.
    recent_candles=(1439, 300),
    # funding pages by exclusive bounds: after = older than, before = newer than
    funding_pages_by_after=True,
    # openInterestAmount counts contracts; baseVolume is the base amount.
    oi_amount_key="baseVolume",
)
